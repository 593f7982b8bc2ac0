using FinancialPipeline.GoogleApis;
using FinancialPipeline.PubSub;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary>
/// Failures that come from the operator's environment rather than from a bug: said in one line. Anything else is
/// left to surface with its stack trace.
/// </summary>
internal static class OperatorFailures
{
    public static string? Describe(Exception exception) => exception switch
    {
        GoogleCredentialsUnavailableException ex => ex.Message,
        PubSubException ex => "Pub/Sub: " + ex.Message,
        HttpRequestException ex => ex.Message,
        NpgsqlException ex => "control database: " + ex.Message,
        _ => null,
    };
}
