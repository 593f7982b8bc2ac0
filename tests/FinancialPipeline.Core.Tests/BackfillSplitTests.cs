using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Stages.Operations;

namespace FinancialPipeline.Core.Tests;

public sealed class BackfillSplitTests
{
    [Fact]
    public void TheWidestRange_IsSplitWithoutOverflow_TheLastWindowEndingAtTo()
    {
        // Was: start.AddDays(7) past 9999-12-24 threw "un-representable DateTime", which fp backfill printed as it was.
        var job = JobConfig.Create("job", "AAPL", 3600, null, "fp-bronze", null, "synthetic", "1d", null, true);
        var from = new DateTimeOffset(1, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var to = new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

        var windows = Backfill.Split(job, new SyntheticQuoteProvider(), from, to, windowDays: 7);

        Assert.Equal(from, windows[0].Start);
        Assert.Equal(to, windows[^1].End);
        Assert.Equal((int)Math.Ceiling((to - from).TotalDays / 7), windows.Count);
        Assert.All(windows.Zip(windows.Skip(1)), pair => Assert.Equal(pair.First.End, pair.Second.Start));
    }
}
