namespace FinancialPipeline.Cli;

/// <summary>The summary statistics the benchmarks report.</summary>
internal static class BenchStatistics
{
    /// <summary>Linear interpolation between the closest ranks of <paramref name="sorted"/> (ascending), 0 ≤ p ≤ 1.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        var rank = p * (sorted.Count - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + ((sorted[hi] - sorted[lo]) * (rank - lo));
    }

    /// <summary>The middle value, or the mean of the two middle values of an even count.</summary>
    public static double Median(IEnumerable<double> values) => Percentile(values.Order().ToList(), 0.5);
}
