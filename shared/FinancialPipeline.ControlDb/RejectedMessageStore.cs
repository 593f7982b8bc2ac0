using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace FinancialPipeline.ControlDb;

/// <summary>Writes and reads <c>rejected_message</c>: every poison message with the field and reason.</summary>
public sealed class RejectedMessageStore(NpgsqlDataSource dataSource)
{
    /// <summary>A payload is stored up to this many bytes.</summary>
    public const int MaxPayloadBytes = 64 * 1024;

    /// <summary>The length of the <c>message_id</c> column; a longer id from outside is cut.</summary>
    public const int MaxMessageIdChars = 256;

    public async Task InsertAsync(
        string functionName, string? messageId, string? subscription, string? source, string? executionId,
        string field, string reason, ReadOnlyMemory<byte> payload, IReadOnlyDictionary<string, string> attributes,
        DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            INSERT INTO rejected_message
                (received_at, function_name, message_id, subscription, source, execution_id, field, reason, payload, attributes)
            VALUES (@received_at, @function_name, @message_id, @subscription, @source, @execution_id, @field, @reason, @payload, @attributes)
            """);
        cmd.Parameters.AddWithValue("received_at", receivedAt);
        cmd.Parameters.AddWithValue("function_name", functionName);
        // Every text here may come from the message (its id, a field's value quoted in the reason, attributes): stored
        // repaired, as a rejection that cannot be recorded is answered 500 and redelivered until dead-lettered.
        cmd.Parameters.AddWithValue("message_id", NpgsqlDbType.Varchar, (object?)StorableText.OfNullable(messageId, MaxMessageIdChars) ?? DBNull.Value);
        cmd.Parameters.AddWithValue("subscription", NpgsqlDbType.Text, (object?)StorableText.OfNullable(subscription) ?? DBNull.Value);
        cmd.Parameters.AddWithValue("source", NpgsqlDbType.Text, (object?)StorableText.OfNullable(source) ?? DBNull.Value);
        cmd.Parameters.AddWithValue("execution_id", NpgsqlDbType.Text, (object?)StorableText.OfNullable(executionId) ?? DBNull.Value);
        cmd.Parameters.AddWithValue("field", StorableText.Of(field, 128));
        cmd.Parameters.AddWithValue("reason", StorableText.Of(reason));
        cmd.Parameters.AddWithValue("payload", payload.Length > MaxPayloadBytes ? payload[..MaxPayloadBytes].ToArray() : payload.ToArray());
        cmd.Parameters.AddWithValue("attributes", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(StorableAttributes(attributes), ControlDbJson.Default.IReadOnlyDictionaryStringString));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private static IReadOnlyDictionary<string, string> StorableAttributes(IReadOnlyDictionary<string, string> attributes)
    {
        var storable = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in attributes)
        {
            storable[StorableText.Of(key)] = StorableText.Of(value);
        }

        return storable;
    }

    /// <summary>One recorded rejection; <see cref="Payload"/> is the message data as received (first 64 KiB).</summary>
    public sealed record Row(
        long Id, DateTimeOffset ReceivedAt, string FunctionName, string? MessageId, string? Subscription, string? Source,
        string? ExecutionId, string Field, string Reason, byte[] Payload, string? AttributesJson);

    private const string SelectColumns =
        "SELECT id, received_at, function_name, message_id, subscription, source, execution_id, field, reason, payload, attributes::text FROM rejected_message";

    /// <summary>What <paramref name="functionName"/> rejected since <paramref name="since"/>, oldest first.</summary>
    public Task<IReadOnlyList<Row>> ListByFunctionAsync(string functionName, DateTimeOffset since, CancellationToken cancellationToken)
    {
        var cmd = dataSource.CreateCommand(SelectColumns + " WHERE function_name = @function_name AND received_at >= @since ORDER BY id");
        cmd.Parameters.AddWithValue("function_name", functionName);
        cmd.Parameters.AddWithValue("since", since);
        return ReadAsync(cmd, cancellationToken);
    }

    /// <summary>The newest <paramref name="limit"/> rejections, of one function or of all, newest first.</summary>
    public Task<IReadOnlyList<Row>> ListRecentAsync(int limit, string? functionName, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var cmd = dataSource.CreateCommand(
            SelectColumns + " WHERE (@function_name::varchar IS NULL OR function_name = @function_name) ORDER BY id DESC LIMIT @limit");
        cmd.Parameters.AddWithValue("function_name", NpgsqlDbType.Varchar, (object?)functionName ?? DBNull.Value);
        cmd.Parameters.AddWithValue("limit", limit);
        return ReadAsync(cmd, cancellationToken);
    }

    /// <summary>The rejections that named <paramref name="executionId"/> (in the body or an attribute), oldest first.</summary>
    public Task<IReadOnlyList<Row>> ListByExecutionAsync(Guid executionId, CancellationToken cancellationToken)
    {
        // execution_id is text (a rejected message may carry anything there); a valid one is stored as received,
        // so compare case-insensitively.
        var cmd = dataSource.CreateCommand(SelectColumns + " WHERE lower(execution_id) = @execution_id ORDER BY id");
        cmd.Parameters.AddWithValue("execution_id", executionId.ToString("D"));
        return ReadAsync(cmd, cancellationToken);
    }

    /// <summary>One rejection by its id, or null.</summary>
    public async Task<Row?> GetAsync(long id, CancellationToken cancellationToken)
    {
        var cmd = dataSource.CreateCommand(SelectColumns + " WHERE id = @id");
        cmd.Parameters.AddWithValue("id", id);
        return (await ReadAsync(cmd, cancellationToken)).SingleOrDefault();
    }

    /// <summary>How many messages were rejected since <paramref name="since"/>, by any function.</summary>
    public async Task<long> CountSinceAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT count(*) FROM rejected_message WHERE received_at >= @since");
        cmd.Parameters.AddWithValue("since", since);
        return (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<IReadOnlyList<Row>> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var cmd = command;
        var rows = new List<Row>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            rows.Add(new Row(
                r.GetInt64(0),
                new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero),
                r.GetString(2),
                r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : r.GetString(4),
                r.IsDBNull(5) ? null : r.GetString(5),
                r.IsDBNull(6) ? null : r.GetString(6),
                r.GetString(7),
                r.GetString(8),
                r.IsDBNull(9) ? [] : (byte[])r[9],
                r.IsDBNull(10) ? null : r.GetString(10)));
        }

        return rows;
    }
}
