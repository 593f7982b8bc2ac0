using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>The one way to open the control database, for the function hosts, the operator CLI and the tests.</summary>
public static class ControlDbDataSource
{
    /// <summary>
    /// The control database is reached with built-in scalar types only: lists travel as one delimited text
    /// parameter (<c>string_to_array</c> on the server) and jsonb as text. So the slim builder registers just the
    /// scalar mappings (the full one builds ~130 generic type mappings at the first connection, array and JSON
    /// resolvers another ~60 JIT-compiled methods), and pg_type is not loaded. Every cold start paid for those.
    /// Transport security stays available for Cloud SQL.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The connection string does not parse. The message names FP_POSTGRES_CONNECTION, where it comes from, and does not
    /// repeat the value: it may hold a password (Npgsql's own message names a position or a keyword only). Checked here,
    /// where the data source parses it anyway, and not while the host's settings are read: System.Data.Common's parser
    /// builds compiled regexes, which would move onto the cold start's critical path.
    /// </exception>
    public static NpgsqlDataSource Create(string connectionString)
    {
        NpgsqlSlimDataSourceBuilder builder;
        try
        {
            builder = new NpgsqlSlimDataSourceBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException(
                $"FP_POSTGRES_CONNECTION is not a valid Npgsql connection string ({Fault(connectionString)}); expected Key=value pairs separated by ';', values holding ';' or spaces quoted (e.g. Host=…;Username=…;Database=financial_pipeline). The value is not shown: it may hold a password.",
                ex);
        }

        // Npgsql takes any integer as the port and fails only at the first open, deep in IPEndPoint.
        if (builder.ConnectionStringBuilder.Port is < 1 or > 65535)
        {
            throw new InvalidOperationException(
                $"FP_POSTGRES_CONNECTION is not a valid Npgsql connection string (its Port, {builder.ConnectionStringBuilder.Port}, is outside 1-65535)");
        }

        builder.EnableTransportSecurity();
        builder.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        return builder.Build();
    }

    /// <summary>
    /// A failure to reach or use the control database, in one line that names FP_POSTGRES_CONNECTION and where it
    /// points (host, port, database, user; never the password), so an operator sees which setting to check. A server
    /// error is its SQLSTATE and message only (Npgsql's own message adds lines such as <c>POSITION: 74</c>); a database
    /// without the pipeline's tables says so.
    /// </summary>
    public static string DescribeFailure(NpgsqlException exception, string? connectionString)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var reason = exception switch
        {
            PostgresException { SqlState: PostgresErrorCodes.UndefinedTable } pg =>
                $"{pg.SqlState}: {pg.MessageText}: the control database has no tables yet; `fp jobs set` creates them before it writes the first job (as a function host does when it starts), unless FP_POSTGRES_CONNECTION names the wrong database",
            PostgresException pg => $"{pg.SqlState}: {pg.MessageText}",
            _ => exception.Message,
        };
        return $"{OneLine(reason)} (FP_POSTGRES_CONNECTION: {Target(connectionString)})";
    }

    private static string Target(string? connectionString)
    {
        try
        {
            var parsed = new NpgsqlConnectionStringBuilder(connectionString ?? string.Empty);
            return $"Host={parsed.Host ?? "(unset)"}, Port={parsed.Port}, Database={parsed.Database ?? "(the user's)"}, Username={parsed.Username ?? "(unset)"}";
        }
        catch (ArgumentException)
        {
            return "does not parse";
        }
    }

    /// <summary>
    /// Which ';'-separated part does not parse, naming a keyword only when Npgsql knows it. Npgsql's own message names the
    /// "keyword" it could not set, and an unquoted ';' inside a password makes the password's tail that keyword.
    /// </summary>
    private static string Fault(string connectionString)
    {
        var parts = connectionString.Split(';');
        for (var i = 0; i < parts.Length; i++)
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(parts[i]);
                continue;
            }
            catch (ArgumentException)
            {
            }

            var at = $"part {i + 1} of {parts.Length}";
            var equals = parts[i].IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                return $"{at} has no '='";
            }

            var keyword = parts[i][..equals].Trim();
            return IsKnownKeyword(keyword)
                ? $"{at}: the value of {keyword} is not valid"
                : $"{at}: its keyword is not one Npgsql knows";
        }

        return "its quoting does not parse";
    }

    private static bool IsKnownKeyword(string keyword)
    {
        try
        {
            new NpgsqlConnectionStringBuilder()[keyword] = null; // removes a known keyword, throws for another
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or KeyNotFoundException)
        {
            return false;
        }
    }

    private static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
