namespace FinancialPipeline.Providers.Yahoo;

/// <summary>A chart response that cannot be trusted (bad JSON, arrays that disagree, non-integral volume…).</summary>
public sealed class YahooChartFormatException : FormatException
{
    public YahooChartFormatException()
    {
    }

    public YahooChartFormatException(string message)
        : base(message)
    {
    }

    public YahooChartFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
