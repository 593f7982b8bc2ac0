using Npgsql;

namespace FinancialPipeline.ControlDb;

/// <summary>The one way to open the control database, for the function hosts, the operator CLI and the tests.</summary>
public static class ControlDbDataSource
{
    /// <summary>
    /// The control schema uses built-in scalar types, arrays and jsonb only: the slim builder registers just those
    /// mappings (the full one builds ~130 generic type mappings at the first connection), and pg_type is not
    /// loaded. Both costs were paid by every cold start. Transport security stays available for Cloud SQL.
    /// </summary>
    public static NpgsqlDataSource Create(string connectionString)
    {
        var builder = new NpgsqlSlimDataSourceBuilder(connectionString);
        builder.EnableArrays();
        builder.EnableJsonTypes();
        builder.EnableTransportSecurity();
        builder.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        return builder.Build();
    }
}
