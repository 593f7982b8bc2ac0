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
    public static NpgsqlDataSource Create(string connectionString)
    {
        var builder = new NpgsqlSlimDataSourceBuilder(connectionString);
        builder.EnableTransportSecurity();
        builder.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        return builder.Build();
    }
}
