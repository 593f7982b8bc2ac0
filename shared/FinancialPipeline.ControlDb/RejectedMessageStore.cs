using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace FinancialPipeline.ControlDb;

/// <summary>Writes and reads <c>rejected_message</c>: every poison message with the field and reason.</summary>
public sealed class RejectedMessageStore(NpgsqlDataSource dataSource)
{
    private const int MaxPayloadBytes = 64 * 1024;

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
        cmd.Parameters.AddWithValue("message_id", NpgsqlDbType.Varchar, (object?)messageId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("subscription", NpgsqlDbType.Text, (object?)subscription ?? DBNull.Value);
        cmd.Parameters.AddWithValue("source", NpgsqlDbType.Text, (object?)source ?? DBNull.Value);
        cmd.Parameters.AddWithValue("execution_id", NpgsqlDbType.Text, (object?)executionId ?? DBNull.Value);
        cmd.Parameters.AddWithValue("field", field.Length > 128 ? field[..128] : field);
        cmd.Parameters.AddWithValue("reason", reason);
        cmd.Parameters.AddWithValue("payload", payload.Length > MaxPayloadBytes ? payload[..MaxPayloadBytes].ToArray() : payload.ToArray());
        cmd.Parameters.AddWithValue("attributes", NpgsqlDbType.Jsonb, JsonSerializer.Serialize(attributes, ControlDbJson.Default.IReadOnlyDictionaryStringString));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public sealed record Row(string FunctionName, string? MessageId, string? ExecutionId, string Field, string Reason, byte[] Payload);

    public async Task<IReadOnlyList<Row>> ListByFunctionAsync(string functionName, DateTimeOffset since, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("""
            SELECT function_name, message_id, execution_id, field, reason, payload
            FROM rejected_message WHERE function_name = @function_name AND received_at >= @since ORDER BY id
            """);
        cmd.Parameters.AddWithValue("function_name", functionName);
        cmd.Parameters.AddWithValue("since", since);
        var rows = new List<Row>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            rows.Add(new Row(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? [] : (byte[])r[5]));
        }

        return rows;
    }
}
