using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;

namespace FinancialPipeline.Integration.Tests;

/// <summary>
/// <c>fp quarantine</c> as a child process over a data directory whose silver bucket the real Transform engine wrote,
/// quarantine included: every rejected row shows with its rule and reason, and per execution on request.
/// </summary>
public sealed class QuarantineCommandTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 21, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T = new(2026, 11, 23, 14, 30, 0, TimeSpan.Zero);
    private static readonly JobConfig TwoTickers = JobConfig.Create("quarantine_job", "AAPL,MSFT", 3600, 10800, "fp-bronze", "fp-silver", "synthetic", "1h", 86400, true);

    [Fact]
    public async Task Quarantine_ListsRejectedRowsWithRuleAndReason_PerExecution()
    {
        var data = Directory.CreateTempSubdirectory("fp-quarantine-");
        try
        {
            var store = new FileSystemObjectStore(Path.Combine(data.FullName, "buckets"));
            var bad = Guid.NewGuid();
            var clean = Guid.NewGuid();
            await TransformAsync(store, TwoTickers, bad, data.FullName, [Bar("AAPL", T.AddHours(-2)), Bar("AAPL", T.AddHours(-1), open: 0), Bar("TSLA", T.AddHours(-1))]);
            await TransformAsync(store, TwoTickers, clean, data.FullName, [Bar("MSFT", T.AddHours(-3))]);
            var none = new Dictionary<string, string>();

            var all = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName);
            var ofClean = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--execution-id", clean.ToString("D"));
            var badBucket = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--bucket", "../etc");

            Assert.True(all.ExitCode == 0, all.Stderr);
            Assert.True(all.Stdout.Contains("fp-silver/financial_quotes_rejected: 2 bar(s) quarantined, one row each — price_positive 1, ticker_in_job 1", StringComparison.Ordinal), all.Stdout);
            Assert.Matches("│ 2026-11-23 13:30:00 │ AAPL +│ +0 +│ +11 +│ +9 +│ +10 +│ +100 +│ price_positive +│ [^│]+│ " + bad.ToString("D"), all.Stdout);
            Assert.Contains("TSLA", all.Stdout, StringComparison.Ordinal);
            Assert.Contains(bad.ToString("D"), all.Stdout, StringComparison.Ordinal);
            Assert.Equal(0, ofClean.ExitCode);
            Assert.Contains($"no quarantined rows set aside by {clean:D}", ofClean.Stdout, StringComparison.Ordinal);
            Assert.Equal(2, badBucket.ExitCode);
            Assert.Contains("--bucket '../etc' is not a valid bucket name", badBucket.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Quarantine_ShowsEachBarStillQuarantinedOnce_AndEveryCopyWithAllCopies_SayingBothNumbers()
    {
        var data = Directory.CreateTempSubdirectory("fp-quarantine-");
        try
        {
            var store = new FileSystemObjectStore(Path.Combine(data.FullName, "buckets"));
            var first = Guid.NewGuid();
            var overlap = Guid.NewGuid();
            // The first window and the next one's overlap both fetch the same two bad bars: each sets them aside.
            await TransformAsync(store, TwoTickers, first, data.FullName, [Bar("AAPL", T.AddHours(-1), open: 0), Bar("TSLA", T.AddHours(-1))], ingestedMinutesLater: 1);
            await TransformAsync(store, TwoTickers, overlap, data.FullName, [Bar("AAPL", T.AddHours(-1), open: 0), Bar("TSLA", T.AddHours(-1))], ingestedMinutesLater: 2);
            // A bar rejected once and accepted by a later fetch is in silver: quarantined no more.
            await TransformAsync(store, TwoTickers, Guid.NewGuid(), data.FullName, [Bar("AAPL", T.AddHours(-2), open: 0)], ingestedMinutesLater: 3);
            await TransformAsync(store, TwoTickers, Guid.NewGuid(), data.FullName, [Bar("AAPL", T.AddHours(-2))], ingestedMinutesLater: 4);
            var none = new Dictionary<string, string>();

            var current = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName);
            var copies = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--all-copies");
            var ofFirst = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--execution-id", first.ToString("D"));

            Assert.True(current.ExitCode == 0, current.Stderr);
            Assert.True(current.Stdout.Contains(
                "fp-silver/financial_quotes_rejected: 2 bar(s) quarantined now, one row each (its latest rejection); 5 row(s) kept of 3 distinct bar(s), one per execution that set a bar aside (--all-copies lists them); 1 of them in silver now (accepted from the same fetch or a later one) — price_positive 1, ticker_in_job 1",
                StringComparison.Ordinal), current.Stdout);
            Assert.Matches("│ 2026-11-23 13:30:00 │ AAPL +│ +0 +│ +11 +│ +9 +│ +10 +│ +100 +│ price_positive +│ [^│]+│ " + overlap.ToString("D"), current.Stdout);
            Assert.DoesNotContain(first.ToString("D"), current.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("12:30:00", current.Stdout, StringComparison.Ordinal);

            Assert.True(copies.ExitCode == 0, copies.Stderr);
            Assert.True(copies.Stdout.Contains(
                "fp-silver/financial_quotes_rejected: 5 row(s) kept of 3 distinct bar(s), one per execution that set a bar aside; 2 of them quarantined now (fp quarantine without --all-copies lists those) — price_positive 3, ticker_in_job 2",
                StringComparison.Ordinal), copies.Stdout);
            Assert.Contains(first.ToString("D"), copies.Stdout, StringComparison.Ordinal);
            Assert.Contains("12:30:00", copies.Stdout, StringComparison.Ordinal);

            Assert.True(ofFirst.ExitCode == 0, ofFirst.Stderr);
            Assert.True(ofFirst.Stdout.Contains("fp-silver/financial_quotes_rejected: 2 row(s) — price_positive 1, ticker_in_job 1", StringComparison.Ordinal), ofFirst.Stdout);
            Assert.DoesNotContain(overlap.ToString("D"), ofFirst.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Quarantine_WithoutSilverData_SaysWhatIsMissingAndFails_WhileCleanSilverPasses()
    {
        var data = Directory.CreateTempSubdirectory("fp-quarantine-");
        try
        {
            var none = new Dictionary<string, string>();
            var missingDir = Path.Combine(data.FullName, "nonexist");
            var noDir = await FpProcess.RunAsync(none, "quarantine", "--data-dir", missingDir);
            var empty = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName);

            // Extract ran (a bronze bucket), Transform did not: still no silver data.
            var job = JobConfig.Create("quarantine_job", "AAPL", 3600, 10800, "fp-bronze", "fp-silver", "synthetic", "1h", 86400, true);
            var store = new FileSystemObjectStore(Path.Combine(data.FullName, "buckets"));
            var execution = Guid.NewGuid();
            await WriteBronzeAsync(store, job, execution, [Bar("AAPL", T.AddHours(-1))]);
            var bronzeOnly = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName);
            var bronzeBucket = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--bucket", "fp-bronze");
            var noSuchBucket = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--bucket", "nosuch");

            await TransformAsync(store, job, execution, data.FullName, [Bar("AAPL", T.AddHours(-1))]);
            var clean = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName);
            var cleanBucket = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--bucket", "fp-silver");
            var stranger = Guid.NewGuid();
            var unknownExecution = await FpProcess.RunAsync(none, "quarantine", "--data-dir", data.FullName, "--execution-id", stranger.ToString("D"));

            Assert.Equal((1, $"fp quarantine: no data directory at {missingDir} (fp run --data-dir, or FP_DATA_DIR, names the data directory)\n", string.Empty), (noDir.ExitCode, noDir.Stderr, noDir.Stdout));
            var buckets = Path.Combine(data.FullName, "buckets");
            foreach (var nothing in new[] { empty, bronzeOnly })
            {
                Assert.Equal(1, nothing.ExitCode);
                Assert.StartsWith($"fp quarantine: no silver data under {buckets}: no Transform run has written silver there yet", nothing.Stderr, StringComparison.Ordinal);
                Assert.DoesNotContain("every row passed", nothing.Stdout, StringComparison.Ordinal);
            }

            Assert.Equal((1, "fp quarantine: bucket 'fp-bronze' holds no silver data: no Transform run has written to it (is it a bronze bucket?)\n"), (bronzeBucket.ExitCode, bronzeBucket.Stderr));
            Assert.Equal((1, $"fp quarantine: no bucket 'nosuch' under {buckets}\n"), (noSuchBucket.ExitCode, noSuchBucket.Stderr));
            Assert.True(clean.ExitCode == 0, clean.Stderr);
            Assert.Contains($"no quarantined rows under {buckets}: every row passed the silver rules", clean.Stdout, StringComparison.Ordinal);
            Assert.True(cleanBucket.ExitCode == 0, cleanBucket.Stderr);
            Assert.Contains($"no quarantined rows under {Path.Combine(buckets, "fp-silver")}: every row passed the silver rules", cleanBucket.Stdout, StringComparison.Ordinal);
            Assert.Contains($"no quarantined rows set aside by {stranger:D} under {buckets}: every row of it passed the silver rules, or its Transform did not run against these buckets (fp runs --execution-id {stranger:D} says which)", unknownExecution.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    private static BarRecord Bar(string ticker, DateTimeOffset at, double open = 10) =>
        new(new QuoteBar(at, ticker, open, 11, 9, 10, null, 100), Guid.Empty, Now.AddMinutes(-5), "synthetic");

    /// <summary>Bronze written as Extract writes it.</summary>
    private static async Task WriteBronzeAsync(FileSystemObjectStore store, JobConfig job, Guid execution, IReadOnlyList<BarRecord> rows)
    {
        using var buffer = new MemoryStream();
        await BarParquet.WriteAsync(buffer, rows.Select(r => r with { ExecutionId = execution }).ToList());
        buffer.Position = 0;
        await store.UploadObjectAsync(job.BucketName, ObjectLayout.BronzeObject(Now, execution), "application/vnd.apache.parquet", buffer);
    }

    /// <summary>Bronze written as Extract writes it, then the Transform engine over it, as the silver stage runs it.</summary>
    /// <param name="ingestedMinutesLater">Fetched this much later than <see cref="Bar"/> says: a later fetch's rows are the newest ingestion.</param>
    private static async Task TransformAsync(FileSystemObjectStore store, JobConfig job, Guid execution, string dataDirectory, IReadOnlyList<BarRecord> rows, int ingestedMinutesLater = 0)
    {
        await WriteBronzeAsync(store, job, execution, [.. rows.Select(r => r with { IngestedAt = r.IngestedAt.AddMinutes(ingestedMinutesLater) })]);
        var work = Directory.CreateDirectory(Path.Combine(dataDirectory, "work")).FullName;
        var engine = new SilverEngine(store, new SilverEngineOptions { WorkDirectory = work });
        using var staged = await engine.StageAsync(new SilverBatch(job, execution, [ObjectLayout.BronzeObject(Now, execution)], Now), CancellationToken.None);
        await engine.CommitAsync(staged, _ => Task.CompletedTask, CancellationToken.None);
    }
}
