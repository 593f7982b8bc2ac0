namespace FinancialPipeline.Core.Jobs;

/// <summary>
/// The market-data providers a job's <c>provider</c> column may name. Each is an <c>IQuoteProvider</c> registered by
/// the functions and the CLI under this name (a test keeps the two in step): a new provider is added here and there.
/// </summary>
public static class ProviderNames
{
    public const string Synthetic = "synthetic";
    public const string Yahoo = "yahoo";

    public static IReadOnlyList<string> All { get; } = [Synthetic, Yahoo];
}
