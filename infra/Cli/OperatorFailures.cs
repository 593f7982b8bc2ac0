using FinancialPipeline.ControlDb;
using FinancialPipeline.GoogleApis;
using FinancialPipeline.PubSub;
using FinancialPipeline.Stages.Operations;
using Npgsql;

namespace FinancialPipeline.Cli;

/// <summary>
/// Failures that come from the operator's environment rather than from a bug: said in one line, and the command exits
/// 1. The commands leave them to <c>Program</c> instead of catching them one by one. Anything else is <c>Program</c>'s
/// last resort: one line with the exception's type and message, exit 1.
/// </summary>
internal static class OperatorFailures
{
    public static string? Describe(Exception exception) => exception switch
    {
        GoogleCredentialsUnavailableException ex => ex.Message,
        PubSubException ex => "Pub/Sub: " + ex.Message,
        HttpRequestException ex => ex.Message,
        NpgsqlException ex => "control database: " + ControlDbDataSource.DescribeFailure(ex, Environment.GetEnvironmentVariable("FP_POSTGRES_CONNECTION")),
        // fp replay reset the rows before the publish failed: nothing runs them until the trigger is published, so the
        // line says what was reset and how to finish, whatever stopped the publish.
        ReplayPublishFailedException ex => $"{ex.Message}; nothing runs them until the trigger is published: run this fp replay again once Pub/Sub is reachable (fp runs --execution-id {ex.ExecutionId:D} shows them as 'reset for replay')",
        _ => null,
    };
}
