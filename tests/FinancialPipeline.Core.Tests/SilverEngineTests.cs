using FinancialPipeline.Core.Jobs;
using FinancialPipeline.Core.Market;
using FinancialPipeline.Core.Parquet;
using FinancialPipeline.Core.Storage;
using FinancialPipeline.Stages.Work;
using FinancialPipeline.Storage;
using FinancialPipeline.Tests.Shared;
using Parquet;
using Parquet.Schema;

namespace FinancialPipeline.Core.Tests;

/// <summary>The silver engine on a real directory tree: rules, quarantine, de-duplication, determinism, spilling, crashes.</summary>
public sealed class SilverEngineTests : IDisposable
{
    private static readonly JobConfig Job = JobConfig.Create("silver_job", "AAPL,MSFT", 3600, 10800, "fp-bronze", "fp-silver", "synthetic", "1h", 86400 * 3, true);
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 21, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T = new(2026, 11, 23, 14, 30, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Micro = T.AddTicks(10); // 1 µs: the Parquet timestamp resolution

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"fp-silver-tests-{Guid.NewGuid():N}");
    private readonly FileSystemObjectStore _store;

    public SilverEngineTests() => _store = new FileSystemObjectStore(_root);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    public static TheoryData<string, string?, string?> RuleBoundaries() => new()
    {
        // rule, the case that just passes, the case that just fails
        { SilverRules.PricePositive, "o=1e-9 h=1e-9 l=1e-9 c=1e-9", "o=0" },
        { SilverRules.PricePositive, "o=1e-9 h=1e-9 l=1e-9 c=1e-9", "c=NaN" },
        { SilverRules.PricePositive, "h=1e308", "h=Infinity" },
        { SilverRules.PricePositive, "o=1e308 h=1.5e308 l=1e308 c=1e308", "o=1e308 h=Infinity l=1e308 c=1e308" }, // each finite, the sum not
        { SilverRules.PricePositive, "adj=1e-9", "adj=0" }, // no adj_close (null) passes: see the default below
        { SilverRules.PricePositive, "adj=1e308", "adj=NaN" },
        { SilverRules.PricePositive, "adj=5", "adj=-Infinity" },
        { SilverRules.VolumePlausible, "v=1000000000000000", "v=1000000000000001" },
        { SilverRules.HighLowBounds, "o=10 h=10 l=10 c=10", "o=10 h=9.999999 l=9 c=9.5" },
        { SilverRules.HighLowBounds, "o=10 h=11 l=10 c=10", "o=10 h=11 l=10.000001 c=10.5" },
        { SilverRules.VolumeNonNegative, "v=0", "v=-1" },
        { SilverRules.TimestampAligned, "at=14:30", "at=14:30+1us" },
        { SilverRules.NotInFuture, "at=20:00", "at=20:30" },
        { SilverRules.TickerInJob, "ticker=MSFT", "ticker=MSFTX" },
    };

    [Theory]
    [InlineData("1h", "03:45:00", true)]   // NSE/BSE: 09:15 IST
    [InlineData("1h", "14:30:00", true)]   // NYSE: 09:30 EST
    [InlineData("1h", "05:15:00", true)]   // Nepal: 11:00 NPT (+05:45)
    [InlineData("1d", "03:45:00", true)]
    [InlineData("90m", "04:45:00", true)]
    [InlineData("30m", "04:15:00", true)]
    [InlineData("2m", "03:47:00", true)]   // NSE 2m bars from 03:45: odd minutes
    [InlineData("5m", "03:50:00", true)]
    [InlineData("1h", "14:37:00", false)]  // a live bar stamped at its last trade
    [InlineData("1d", "13:31:00", false)]
    [InlineData("5m", "03:47:00", false)]
    [InlineData("2m", "03:47:30", false)]
    [InlineData("1m", "03:47:00.001", false)]
    public void TimestampAligned_AcceptsSessionsOpeningOnAnyQuarterHour(string interval, string barStart, bool valid)
    {
        var job = JobConfig.Create("silver_job", "AAPL", 3600, null, "fp-bronze", "fp-silver", "synthetic", interval, null, true);
        var at = new DateTimeOffset(2026, 11, 16, 0, 0, 0, TimeSpan.Zero).Add(TimeSpan.Parse(barStart, System.Globalization.CultureInfo.InvariantCulture));

        var rule = new SilverRules(job, at.AddDays(3)).Check(at.UtcTicks, true, 10, 11, 9, 10, null, 100);

        Assert.Equal(valid ? SilverRules.Valid : 5, rule);
    }

    [Fact]
    public void ABadAdjustedClose_IsNamedInTheReason_AndAnAbsentOneIsNotMentioned()
    {
        var rules = new SilverRules(Job, Now);

        Assert.Equal(1, rules.Check(T.UtcTicks, true, 10, 11, 9, 10, double.NaN, 100));
        Assert.Equal(
            "prices must be positive, finite and non-null, adj_close too when present (o=10 h=11 l=9 c=10 adj=NaN)",
            rules.Describe(1, T.UtcDateTime, "AAPL", 10, 11, 9, 10, double.NaN, 100));
        Assert.Equal(
            "prices must be positive, finite and non-null (o=0 h=11 l=9 c=10)",
            rules.Describe(1, T.UtcDateTime, "AAPL", 0, 11, 9, 10, null, 100));
    }

    [Theory]
    [MemberData(nameof(RuleBoundaries))]
    public void EachRule_PassesTheBoundaryRow_AndNamesTheRowJustBeyond(string rule, string? passing, string? failing)
    {
        var rules = new SilverRules(Job, Now);
        int Check(string? spec)
        {
            var o = 10.0;
            var h = 11.0;
            var l = 9.0;
            var c = 10.0;
            var v = 100L;
            double? adj = null;
            var at = T;
            var ticker = "AAPL";
            foreach (var part in (spec ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var (key, value) = (part[..part.IndexOf('=')], part[(part.IndexOf('=') + 1)..]);
                switch (key)
                {
                    case "o": o = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "h": h = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "l": l = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "c": c = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "v": v = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "adj": adj = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                    case "ticker": ticker = value; break;
                    case "at":
                        var micro = value.EndsWith("+1us", StringComparison.Ordinal);
                        var hm = TimeOnly.Parse(value.Replace("+1us", string.Empty, StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
                        at = T.Date.Add(hm.ToTimeSpan()).ToUniversalTime().AddTicks(micro ? 10 : 0);
                        at = new DateTimeOffset(at.UtcDateTime, TimeSpan.Zero);
                        break;
                }
            }

            return rules.Check(at.UtcTicks, Job.Tickers.Contains(ticker), o, h, l, c, adj, v);
        }

        Assert.Equal(SilverRules.Valid, Check(passing));
        Assert.Equal(rule, SilverRules.Names[Check(failing)]);
    }

    [Fact]
    public async Task EveryRejectedRow_IsQuarantinedWithItsRuleAndExecution_AndNothingIsDropped()
    {
        var exec = Guid.NewGuid();
        var rows = new List<BarRecord>
        {
            Row("AAPL", T.AddHours(-2)),
            Row("MSFT", T.AddHours(-2)),                             // duplicate_in_batch (the later MSFT row supersedes it)
            Row("AAPL", T.AddHours(-3), o: 0),                       // price_positive
            Row("AAPL", T.AddHours(-4), h: 9.5),                     // high_low_bounds
            Row("AAPL", T.AddHours(-5), v: -1),                      // volume_non_negative
            Row("AAPL", T.AddHours(-6), v: long.MaxValue / 2 + 10),  // volume_plausible (two would overflow gold's sum)
            Row("AAPL", T.AddHours(-2).AddMinutes(1)),               // timestamp_aligned
            Row("AAPL", Now.AddMinutes(-30)),                        // not_in_future
            Row("TSLA", T.AddHours(-2)),                             // ticker_in_job
            Row("MSFT", T.AddHours(-2)),                             // kept: the object's last word on the bar
        };
        var bronze = await WriteBronzeAsync(exec, Now.AddMinutes(-5), rows);

        var result = await RunAsync(exec, [bronze]);

        Assert.Equal(rows.Count, result.RowsIn);
        Assert.Equal(2, result.Written);
        Assert.Equal(8, result.Rejected);
        Assert.Equal(result.RowsIn, result.Written + result.Rejected + result.Metrics["rows_superseded"]);
        foreach (var rule in SilverRules.Names.Skip(1))
        {
            Assert.Equal(1, result.Metrics["rejected_" + rule]);
        }

        Assert.Equal(["2026-11-23"], result.TouchedDates);
        var quarantined = await ReadQuarantineAsync(DateOnly.FromDateTime(T.UtcDateTime), exec);
        Assert.Equal(SilverRules.Names.Skip(1).Order(), quarantined.Select(q => q.Rule).Order());
        Assert.All(quarantined, q => Assert.Equal(exec, q.RejectedBy));
        Assert.All(quarantined, q => Assert.False(string.IsNullOrWhiteSpace(q.Reason)));
        Assert.Equal(2, (await ReadSilverAsync(DateOnly.FromDateTime(T.UtcDateTime))).Count);
        Assert.Contains(result.Outputs, o => o.Contains(ObjectLayout.RejectedDataset, StringComparison.Ordinal));
    }

    /// <summary>
    /// Duplicates are decided among the rows that pass the other rules, and the last valid one is kept (as the Yahoo
    /// parser keeps a repeated timestamp's later bar, the provider's restatement): an invalid last row is quarantined
    /// under its own rule and does not block the last valid one; the earlier duplicate's reason says a later row wins.
    /// </summary>
    [Fact]
    public async Task AnInvalidLastOccurrence_DoesNotBlockTheLastValidOne_AndTheDuplicatesReasonSaysALaterRowSupersedesIt()
    {
        var exec = Guid.NewGuid();
        var bronze = await WriteBronzeAsync(exec, Now.AddMinutes(-5), [Row("AAPL", T, c: 10), Row("AAPL", T, c: 10.5), Row("AAPL", T, o: -1)]);

        var result = await RunAsync(exec, [bronze]);

        Assert.Equal((3, 1, 2), (result.RowsIn, result.Written, result.Rejected));
        Assert.Equal(10.5, Assert.Single(await ReadSilverAsync(DateOnly.FromDateTime(T.UtcDateTime))).Bar.Close);
        var quarantined = await ReadQuarantineAsync(DateOnly.FromDateTime(T.UtcDateTime), exec);
        Assert.Equal([SilverRules.DuplicateInBatch, SilverRules.PricePositive], quarantined.Select(q => q.Rule).Order(StringComparer.Ordinal).ToList());
        var duplicate = Assert.Single(quarantined, q => q.Rule == SilverRules.DuplicateInBatch);
        Assert.Equal(10, duplicate.Record.Bar.Close);
        Assert.EndsWith("appears again later among this bronze object's valid rows, and that later row supersedes this one (the last valid occurrence is kept, the provider's restatement)",
            duplicate.Reason, StringComparison.Ordinal);
        Assert.Equal(-1, Assert.Single(quarantined, q => q.Rule == SilverRules.PricePositive).Record.Bar.Open);
    }

    /// <summary>
    /// A replay re-fetches an execution's bronze: when a bar it rejected before is now valid, its earlier quarantine
    /// object must go, or the quarantine keeps naming this execution for a row that is in silver and not in its bronze.
    /// </summary>
    [Fact]
    public async Task ARerunThatNoLongerRejectsADatesRows_RemovesOnlyThatExecutionsEarlierQuarantineObject()
    {
        var exec = Guid.NewGuid();
        var other = Guid.NewGuid();
        var dayBefore = T.AddDays(-1);
        var (today, yesterday) = (DateOnly.FromDateTime(T.UtcDateTime), DateOnly.FromDateTime(dayBefore.UtcDateTime));
        await RunAsync(other, [await WriteBronzeAsync(other, Now.AddMinutes(-5), [Row("MSFT", dayBefore, o: 0)])]);
        var bronze = await WriteBronzeAsync(exec, Now.AddMinutes(-5), [Row("AAPL", T.AddHours(-2)), Row("AAPL", dayBefore, o: 0), Row("MSFT", T.AddHours(-3), v: -1)]);
        var first = await RunAsync(exec, [bronze]);
        Assert.Equal(2, first.Rejected);

        // the replay's re-fetch corrected the day before's bar; today's MSFT bar is still rejected
        await WriteBronzeAsync(exec, Now.AddMinutes(-5), [Row("AAPL", T.AddHours(-2)), Row("AAPL", dayBefore), Row("MSFT", T.AddHours(-3), v: -1)]);
        var rerun = await RunAsync(exec, [bronze], attempt: 2);

        Assert.Equal(1, rerun.Rejected);
        Assert.Equal(1, rerun.Metrics["quarantine_objects_removed"]);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => ReadQuarantineAsync(yesterday, exec));
        Assert.Equal(SilverRules.VolumeNonNegative, Assert.Single(await ReadQuarantineAsync(today, exec)).Rule);
        Assert.Single(await ReadQuarantineAsync(yesterday, other));
        Assert.Contains(await ReadSilverAsync(yesterday), r => r.Bar.Ticker == "AAPL" && r.ExecutionId == exec);
    }

    [Fact]
    public async Task ARun_ListsOnlyThePartitionsOfItsDates_NotTheWholeSilverHistory()
    {
        // A year of earlier partitions before yesterday (placeholders: a listing of them is all the old code did with them),
        // and today's, which the run merges into.
        for (var day = 1; day <= 365; day++)
        {
            var old = ObjectLayout.SilverObject(DateOnly.FromDateTime(T.UtcDateTime).AddDays(-day - 1));
            await _store.UploadObjectAsync(Job.SilverBucketName, old, "application/octet-stream", new MemoryStream([1]));
        }

        var first = Guid.NewGuid();
        await RunAsync(first, [await WriteBronzeAsync(first, Now.AddMinutes(-5), [Row("AAPL", T.AddHours(-1))])]);
        var exec = Guid.NewGuid();
        var bronze = await WriteBronzeAsync(exec, Now.AddMinutes(-5), [Row("AAPL", T), Row("MSFT", T.AddDays(-1))]);
        var counting = new CountingListStore(_store);

        var result = await RunAsync(exec, [bronze], store: counting);

        var (today, yesterday) = (DateOnly.FromDateTime(T.UtcDateTime), DateOnly.FromDateTime(T.UtcDateTime).AddDays(-1));
        Assert.Equal([ObjectLayout.SilverPartitionPrefix(yesterday), ObjectLayout.SilverPartitionPrefix(today)], counting.Prefixes);
        Assert.Equal(1, counting.Listed); // today's partition, of 366 (yesterday has none yet)
        Assert.Equal(2, (await ReadSilverAsync(today)).Count); // the earlier run's bar kept: today's partition was found and merged
        Assert.Equal(2, result.Written);
    }

    [Fact]
    public void PartitionListings_AreEachDatesPartition_OrTheirMonthsForARange()
    {
        var d = new DateOnly(2026, 11, 25);
        Assert.Equal(["financial_quotes/date=2026-11-25/"], ObjectLayout.SilverPartitionListings([d, d]));
        Assert.Equal(["financial_quotes/date=2026-11-24/", "financial_quotes/date=2026-11-25/"], ObjectLayout.SilverPartitionListings([d, d.AddDays(-1)]));
        Assert.Equal(["financial_quotes/date=2026-11-"], ObjectLayout.SilverPartitionListings([.. Enumerable.Range(0, 5).Select(i => d.AddDays(-i))]));
        Assert.Equal(["financial_quotes/date=2026-10-", "financial_quotes/date=2026-11-"], ObjectLayout.SilverPartitionListings([.. Enumerable.Range(0, 40).Select(i => d.AddDays(-i))]));
        Assert.Equal(["financial_quotes/date=2029-12-", "financial_quotes/date=2030-01-"], ObjectLayout.SilverPartitionListings([.. Enumerable.Range(0, 5).Select(i => new DateOnly(2030, 1, 2).AddDays(-i))]));
        Assert.All(ObjectLayout.SilverPartitionListings([.. Enumerable.Range(0, 5).Select(i => d.AddDays(-i))]), p => Assert.DoesNotContain("ingest_date", p, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ANullPrice_InABronzeFileWithOptionalPrices_IsQuarantinedAsPricePositive()
    {
        var exec = Guid.NewGuid();
        var schema = new ParquetSchema(
            BarParquet.BarTs, BarParquet.Ticker, new DataField<double?>("open", true), BarParquet.High, BarParquet.Low, new DataField<double?>("close", true),
            BarParquet.AdjClose, BarParquet.Volume, BarParquet.ExecutionId, BarParquet.IngestedAt, BarParquet.Provider);
        using var buffer = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(schema, buffer))
        {
            using var g = writer.CreateRowGroup();
            var ts = new[] { T.UtcDateTime, T.AddHours(-1).UtcDateTime };
            await g.WriteAsync<DateTime>(BarParquet.BarTs, ts);
            await g.WriteAsync(BarParquet.Ticker, ["AAPL", "AAPL"]);
            await g.WriteAsync<double>((DataField)schema[2], new double?[] { 10, 10 });
            await g.WriteAsync<double>(BarParquet.High, new double[] { 11, 11 });
            await g.WriteAsync<double>(BarParquet.Low, new double[] { 9, 9 });
            await g.WriteAsync<double>((DataField)schema[5], new double?[] { 10, null });
            await g.WriteAsync<double>(BarParquet.AdjClose, new double?[] { null, null });
            await g.WriteAsync<long>(BarParquet.Volume, new long[] { 1, 1 });
            await g.WriteAsync(BarParquet.ExecutionId, [exec.ToString("D"), exec.ToString("D")]);
            await g.WriteAsync<DateTime>(BarParquet.IngestedAt, new[] { Now.UtcDateTime, Now.UtcDateTime });
            await g.WriteAsync(BarParquet.Provider, ["synthetic", "synthetic"]);
        }

        buffer.Position = 0;
        var name = ObjectLayout.BronzeObject(Now, exec);
        await _store.UploadObjectAsync(Job.BucketName, name, "application/vnd.apache.parquet", buffer);

        var result = await RunAsync(exec, [name]);

        Assert.Equal(1, result.Written);
        Assert.Equal(1, result.Metrics["rejected_" + SilverRules.PricePositive]);
        var q = Assert.Single(await ReadQuarantineAsync(DateOnly.FromDateTime(T.UtcDateTime), exec));
        Assert.True(double.IsNaN(q.Record.Bar.Close));
    }

    [Fact]
    public async Task TwoOverlappingWindows_WithALateCorrection_HoldEachBarOnce_WithTheCorrectedValues()
    {
        var day1 = new DateTimeOffset(2026, 11, 19, 14, 30, 0, TimeSpan.Zero);
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        var firstRows = Bars(day1, hours: 30, ingested: day1.AddHours(31), exec: first).ToList();
        // The second window re-fetches the last 3 bars (overlap); Yahoo has corrected one of them since.
        var overlapStart = day1.AddHours(27);
        var secondRows = Bars(overlapStart, hours: 10, ingested: day1.AddHours(40), exec: second)
            .Select(r => r.Bar.Timestamp == day1.AddHours(28) ? r with { Bar = r.Bar with { Close = r.Bar.Close + 0.25, High = r.Bar.High + 0.25 } } : r)
            .ToList();

        await RunAsync(first, [await WriteBronzeAsync(first, day1.AddHours(31), firstRows)]);
        var secondObject = await WriteBronzeAsync(second, day1.AddHours(40), secondRows);
        var result = await RunAsync(second, [secondObject]);

        var silver = await ReadAllSilverAsync();
        Assert.Equal(silver.Count, silver.Select(r => (r.Bar.Ticker, r.Bar.Timestamp)).Distinct().Count());
        Assert.Equal(firstRows.Concat(secondRows).Select(r => (r.Bar.Ticker, r.Bar.Timestamp)).Distinct().Count(), silver.Count);
        var corrected = silver.Where(r => r.Bar.Timestamp == day1.AddHours(28)).ToList();
        Assert.Equal(2, corrected.Count);
        Assert.All(corrected, r => Assert.Equal(second, r.ExecutionId));
        Assert.All(corrected, r => Assert.Equal(secondRows.Single(s => s.Bar.Ticker == r.Bar.Ticker && s.Bar.Timestamp == r.Bar.Timestamp).Bar.Close, r.Bar.Close));
        Assert.Equal(secondRows.Select(r => ObjectLayout.DateKey(r.Bar.Timestamp)).Distinct().Order(), result.TouchedDates);

        // Deterministic: re-running the second execution rewrites byte-identical partitions.
        var before = SilverFiles().ToDictionary(f => f, File.ReadAllBytes);
        await RunAsync(second, [secondObject]);
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));

        // A replay of the older execution does not undo the correction: the newest ingestion wins, not the last writer.
        await RunAsync(first, [await WriteBronzeAsync(first, day1.AddHours(31), firstRows)]);
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));
    }

    [Fact]
    public async Task InBatchDuplicates_KeepTheLastOccurrence_WhileTheSameBarInTwoObjectsIsNotADuplicate()
    {
        var a = Row("AAPL", T.AddHours(-2));
        var b = a with { Bar = a.Bar with { Close = 10.5 } };
        var c = a with { Bar = a.Bar with { Close = 10.25 } };
        var date = DateOnly.FromDateTime(T.UtcDateTime);

        // Each execution fetched later than the one before, so its rows are the newest ingestion of the bar.
        async Task<(Guid Exec, SilverResult Result)> FetchAsync(int minutes, params BarRecord[][] objects)
        {
            var exec = Guid.NewGuid();
            var names = new List<string>();
            for (var part = 0; part < objects.Length; part++)
            {
                names.Add(await WriteBronzeAsync(exec, Now, [.. objects[part].Select(r => r with { IngestedAt = r.IngestedAt.AddMinutes(minutes) })], part));
            }

            return (exec, await RunAsync(exec, names));
        }

        var first = await FetchAsync(1, [a, b]);
        Assert.Equal(1, first.Result.Metrics["rejected_" + SilverRules.DuplicateInBatch]);
        Assert.Equal(10, Assert.Single(await ReadQuarantineAsync(date, first.Exec)).Record.Bar.Close); // the earlier occurrence
        Assert.Equal(10.5, Assert.Single(await ReadSilverAsync(date)).Bar.Close);

        // The same rows in the other order: whichever comes last in the object is kept.
        var reversed = await FetchAsync(2, [b, a]);
        Assert.Equal(10.5, Assert.Single(await ReadQuarantineAsync(date, reversed.Exec)).Record.Bar.Close);
        Assert.Equal(10, Assert.Single(await ReadSilverAsync(date)).Bar.Close);

        var twoObjects = await FetchAsync(3, [a, b], [c]);
        Assert.Equal(1, twoObjects.Result.Metrics["rejected_" + SilverRules.DuplicateInBatch]);
        Assert.Equal(10, Assert.Single(await ReadQuarantineAsync(date, twoObjects.Exec)).Record.Bar.Close);
        Assert.Equal(10.25, Assert.Single(await ReadSilverAsync(date)).Bar.Close); // same ingestion: the later object wins the tie, not a duplicate
    }

    [Fact]
    public async Task SpillingToDiskAndParallelMerging_DoNotChangeTheOutput()
    {
        var start = new DateTimeOffset(2026, 9, 1, 14, 30, 0, TimeSpan.Zero);
        var execs = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid()).ToList();
        var objects = new List<string>();
        for (var i = 0; i < execs.Count; i++)
        {
            var rows = Bars(start.AddDays(i * 27), hours: 24 * 30, ingested: start.AddDays(100 + i), exec: execs[i]).ToList();
            objects.Add(await WriteBronzeAsync(execs[i], start.AddDays(100 + i), rows));
        }

        var spilled = await RunAsync(execs[2], objects, new SilverEngineOptions { MaxBufferedRows = 2048, MaxDegreeOfParallelism = 2 }, silverBucket: "silver-a");
        var inMemory = await RunAsync(execs[2], objects, new SilverEngineOptions { MaxDegreeOfParallelism = 1 }, silverBucket: "silver-b");

        Assert.True(spilled.Metrics["rows_spilled"] > 0);
        Assert.Equal(0, inMemory.Metrics["rows_spilled"]);
        Assert.Equal(inMemory.TouchedDates, spilled.TouchedDates);
        foreach (var date in inMemory.TouchedDates)
        {
            var name = ObjectLayout.SilverObject(DateOnly.ParseExact(date, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(File.ReadAllBytes(_store.PathOf("silver-b", name)), File.ReadAllBytes(_store.PathOf("silver-a", name)));
        }
    }

    [Fact]
    public async Task AMissingBronzeObject_FailsTheBatchWithItsUri_InsteadOfCountingAsEmpty()
    {
        var exec = Guid.NewGuid();
        var missing = ObjectLayout.BronzeObject(Now, exec);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => RunAsync(exec, [missing]));

        Assert.Contains(_store.UriOf(Job.BucketName, missing), error.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains($"fp replay --execution-id {exec:D} --stage bronze", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_root, Job.SilverBucketName)));
    }

    [Fact]
    public async Task AnUnreadableBronzeObject_FailsTheBatchWithItsUri()
    {
        var exec = Guid.NewGuid();
        var name = ObjectLayout.BronzeObject(Now, exec);
        await _store.UploadObjectAsync(Job.BucketName, name, "application/octet-stream", new MemoryStream("not parquet at all"u8.ToArray()));

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => RunAsync(exec, [name]));

        Assert.Contains("unreadable", error.Message, StringComparison.Ordinal);
        Assert.Contains(_store.UriOf(Job.BucketName, name), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACrashBetweenWritingAPartitionAndReplacingTheOldOne_LeavesSilverReadable_AndTheRetryCompletesIt()
    {
        var day1 = new DateTimeOffset(2026, 11, 16, 14, 30, 0, TimeSpan.Zero);
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        var firstRows = Bars(day1, hours: 24 * 3, ingested: day1.AddDays(3), exec: first).ToList();
        await RunAsync(first, [await WriteBronzeAsync(first, day1.AddDays(3), firstRows)]);
        var before = SilverFiles().ToDictionary(f => f, File.ReadAllBytes);
        var secondRows = Bars(day1, hours: 24 * 4, ingested: day1.AddDays(4), exec: second)
            .Select(r => r with { Bar = r.Bar with { Volume = r.Bar.Volume + 1 } })
            .ToList();
        var secondObject = await WriteBronzeAsync(second, day1.AddDays(4), secondRows);

        // The new version of the second partition is fully written next to the old one, then the process dies.
        var crashing = new CrashBeforeReplaceStore(_store, ObjectLayout.SilverObject(DateOnly.FromDateTime(day1.AddDays(1).UtcDateTime)));
        await Assert.ThrowsAsync<IOException>(() => RunAsync(second, [secondObject], new SilverEngineOptions { MaxDegreeOfParallelism = 1 }, store: crashing));

        Assert.True(crashing.Crashed);
        foreach (var (file, bytes) in before)
        {
            var rows = await BarParquet.ReadAsync(new MemoryStream(File.ReadAllBytes(file)));
            Assert.NotEmpty(rows);
            if (file.Contains("2026-11-17", StringComparison.Ordinal))
            {
                Assert.Equal(bytes, File.ReadAllBytes(file)); // the crashed partition still holds its previous version
            }
        }

        await foreach (var o in _store.ListObjectsAsync(Job.SilverBucketName, ObjectLayout.Dataset + "/"))
        {
            Assert.EndsWith("part-00000.parquet", o.Name, StringComparison.Ordinal); // readers never list the half-done replacement
        }

        await RunAsync(second, [secondObject]);

        var silver = await ReadAllSilverAsync();
        Assert.Equal(secondRows.Count, silver.Count);
        Assert.All(silver, r => Assert.Equal(second, r.ExecutionId));
        Assert.Equal(secondRows.Select(r => (r.Bar.Ticker, r.Bar.Timestamp, r.Bar.Volume)).Order(), silver.Select(r => (r.Bar.Ticker, r.Bar.Timestamp, r.Bar.Volume)).Order());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AWriterThatLostTheSilverLock_DoesNotOverwriteAnotherWritersMergeOfTheSameDate_AndItsRetryKeepsBoth(bool partitionExisted)
    {
        // The silver lock is a PostgreSQL session lock: if its connection drops mid-commit (a Cloud SQL failover), a second
        // writer can take it while the first is still merging. The first one's upload must then fail, not replace the
        // partition with a version that lacks the second one's rows.
        var date = DateOnly.FromDateTime(T.UtcDateTime);
        var earlier = Guid.NewGuid();
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        if (partitionExisted)
        {
            await RunAsync(earlier, [await WriteBronzeAsync(earlier, Now.AddMinutes(-30), [Row("AAPL", T.AddHours(-4))])]);
        }

        var firstObject = await WriteBronzeAsync(first, Now.AddMinutes(-20), [Row("AAPL", T.AddHours(-2))]);
        var secondObject = await WriteBronzeAsync(second, Now.AddMinutes(-10), [Row("MSFT", T.AddHours(-3))]);

        // The second writer commits in full between the first one's listing and its upload.
        var ranSecond = false;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => RunAsync(first, [firstObject], beforeWrite: async _ =>
        {
            if (!ranSecond)
            {
                ranSecond = true;
                await RunAsync(second, [secondObject]);
            }
        }));

        Assert.Contains($"silver partition {ObjectLayout.DateKey(date)} changed while this run merged it", error.Message, StringComparison.Ordinal);
        Assert.IsType<ObjectPreconditionFailedException>(error.InnerException);
        var afterConflict = await ReadSilverAsync(date);
        Assert.Contains(afterConflict, r => r.ExecutionId == second);
        Assert.DoesNotContain(afterConflict, r => r.ExecutionId == first);

        await RunAsync(first, [firstObject]); // the stage's retry
        var silver = await ReadSilverAsync(date);
        Assert.Equal(
            new[] { (first, "AAPL"), (second, "MSFT") }.Concat(partitionExisted ? [(earlier, "AAPL")] : []).Order(),
            silver.Select(r => (r.ExecutionId, r.Bar.Ticker)).Order());
    }

    [Fact]
    public async Task AnUnreadableExistingPartition_IsNeverReplaced()
    {
        var exec = Guid.NewGuid();
        var date = DateOnly.FromDateTime(T.UtcDateTime);
        await _store.UploadObjectAsync(Job.SilverBucketName, ObjectLayout.SilverObject(date), "application/octet-stream", new MemoryStream("corrupt"u8.ToArray()));

        var error = await Assert.ThrowsAsync<InvalidDataException>(async () => await RunAsync(exec, [await WriteBronzeAsync(exec, Now, [Row("AAPL", T.AddHours(-2))])]));

        Assert.Contains("refusing to replace", error.Message, StringComparison.Ordinal);
        Assert.Equal("corrupt"u8.ToArray(), File.ReadAllBytes(_store.PathOf(Job.SilverBucketName, ObjectLayout.SilverObject(date))));
    }

    [Fact]
    public async Task SilverAndBronzeWrittenBeforeTheCurrencyColumns_AreMergedWithNewRows_TheirCurrencyNull()
    {
        var day = new DateTimeOffset(2026, 11, 19, 14, 30, 0, TimeSpan.Zero);
        var old = Guid.NewGuid();
        var current = Guid.NewGuid();
        // The partition as the previous version wrote it, and a bronze object of that version still waiting (a replay).
        var oldRows = Bars(day, hours: 4, ingested: day.AddHours(5), exec: old).ToList();
        var partition = Path.Combine(_root, Job.SilverBucketName, ObjectLayout.SilverObject(DateOnly.FromDateTime(day.UtcDateTime)).Replace('/', Path.DirectorySeparatorChar));
        Directory.CreateDirectory(Path.GetDirectoryName(partition)!);
        await using (var file = File.Create(partition))
        {
            await PreCurrencyParquet.WriteAsync(file, oldRows);
        }

        var oldBronze = ObjectLayout.BronzeObject(day.AddHours(5), old);
        using (var buffer = new MemoryStream())
        {
            await PreCurrencyParquet.WriteAsync(buffer, oldRows);
            buffer.Position = 0;
            await _store.UploadObjectAsync(Job.BucketName, oldBronze, "application/vnd.apache.parquet", buffer);
        }

        // The current version re-fetches the last two hours and one more, with the provider's currency.
        var newRows = Bars(day.AddHours(2), hours: 3, ingested: day.AddHours(6), exec: current)
            .Select(r => r with { Bar = r.Bar with { Currency = r.Bar.Ticker == "MSFT" ? "JPY" : "USD", ExchangeTimezone = "America/New_York" } })
            .ToList();
        var result = await RunAsync(current, [await WriteBronzeAsync(current, day.AddHours(6), newRows)]);

        var silver = await ReadAllSilverAsync();
        Assert.Equal(10, silver.Count);
        Assert.Equal(6, result.Written);
        Assert.All(silver.Where(r => r.ExecutionId == old), r => Assert.Equal((null, null), (r.Bar.Currency, r.Bar.ExchangeTimezone)));
        Assert.All(silver.Where(r => r.ExecutionId == current), r => Assert.Equal((r.Bar.Ticker == "MSFT" ? "JPY" : "USD", "America/New_York"), (r.Bar.Currency, r.Bar.ExchangeTimezone)));
        Assert.Equal(4, silver.Count(r => r.ExecutionId == old));

        // The old bronze object replays: its rows are older ingestions, so they supersede nothing and nothing fails.
        var replay = await RunAsync(old, [oldBronze]);
        Assert.Equal(0, replay.Rejected);
        Assert.Equal(silver, await ReadAllSilverAsync());
    }

    [Fact]
    public async Task TheDuckDbSilverViews_ReadObjectsWithAndWithoutTheCurrencyColumns()
    {
        var day = new DateTimeOffset(2026, 11, 18, 14, 30, 0, TimeSpan.Zero);
        var dir = Path.Combine(_root, Job.SilverBucketName, ObjectLayout.Dataset);
        foreach (var (date, current) in new[] { (day, false), (day.AddDays(1), true) })
        {
            var path = Path.Combine(_root, Job.SilverBucketName, ObjectLayout.SilverObject(DateOnly.FromDateTime(date.UtcDateTime)).Replace('/', Path.DirectorySeparatorChar));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var rows = Bars(date, hours: 2, ingested: Now, exec: Guid.NewGuid()).ToList();
            await using var file = File.Create(path);
            if (current)
            {
                await BarParquet.WriteAsync(file, [.. rows.Select(r => r with { Bar = r.Bar with { Currency = "USD", ExchangeTimezone = "America/New_York" } })]);
            }
            else
            {
                await PreCurrencyParquet.WriteAsync(file, rows);
            }
        }

        var counts = await SilverViewAsync("SELECT count(*) FILTER (WHERE currency IS NULL), count(*) FILTER (WHERE currency = 'USD' AND exchange_timezone = 'America/New_York') FROM financial_quotes_silver");
        Assert.Equal((4L, 4L), counts);

        // Only old objects: the columns still exist, all NULL.
        Directory.Delete(Path.Combine(dir, "date=2026-11-19"), recursive: true);
        Assert.Equal((4L, 0L), await SilverViewAsync("SELECT count(*) FILTER (WHERE currency IS NULL), count(exchange_timezone) FROM financial_quotes_silver"));
    }

    private async Task<(long, long)> SilverViewAsync(string query)
    {
        using var sql = typeof(FinancialPipeline.Warehouse.DuckDbGoldWarehouse).Assembly.GetManifestResourceStream("duckdb.010_silver_views.sql")!;
        var ddl = new StreamReader(sql).ReadToEnd();
        ddl = ddl[..ddl.IndexOf("CREATE OR REPLACE VIEW financial_quotes_rejected", StringComparison.Ordinal)]
            .Replace("{silver_root}", Path.Combine(_root, Job.SilverBucketName).Replace("'", "''", StringComparison.Ordinal), StringComparison.Ordinal);
        await using var conn = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SET TimeZone = 'UTC';\n" + ddl;
        await cmd.ExecuteNonQueryAsync();
        cmd.CommandText = query;
        await using var reader = await cmd.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    [Fact]
    public async Task TheDuckDbSilverViews_ReadWhatTheEngineWrote_WithTheDateFromThePath()
    {
        var exec = Guid.NewGuid();
        var rows = Bars(new DateTimeOffset(2026, 11, 18, 14, 30, 0, TimeSpan.Zero), hours: 30, ingested: Now.AddHours(-1), exec: exec).Append(Row("TSLA", T.AddHours(-2), exec: exec)).ToList();
        await RunAsync(exec, [await WriteBronzeAsync(exec, Now, rows)]);
        using var sql = typeof(FinancialPipeline.Warehouse.DuckDbGoldWarehouse).Assembly.GetManifestResourceStream("duckdb.010_silver_views.sql")!;
        var ddl = new StreamReader(sql).ReadToEnd().Replace("{silver_root}", Path.Combine(_root, Job.SilverBucketName).Replace("'", "''", StringComparison.Ordinal), StringComparison.Ordinal);

        await using var conn = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SET TimeZone = 'UTC';\n" + ddl;
        await cmd.ExecuteNonQueryAsync();
        cmd.CommandText = "SELECT count(*), count(DISTINCT (ticker, bar_ts)), min(\"date\"), max(\"date\"), bool_and(CAST(bar_ts AS DATE) = \"date\") FROM financial_quotes_silver";
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(60L, reader.GetInt64(0));
            Assert.Equal(60L, reader.GetInt64(1));
            Assert.Equal(new DateTime(2026, 11, 18), reader.GetDateTime(2));
            Assert.Equal(new DateTime(2026, 11, 19), reader.GetDateTime(3));
            Assert.True(reader.GetBoolean(4));
        }

        cmd.CommandText = "SELECT rule, rejected_by FROM financial_quotes_rejected";
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal((SilverRules.TickerInJob, exec.ToString("D")), (reader.GetString(0), reader.GetString(1)));
            Assert.False(await reader.ReadAsync());
        }

        // The script's own de-duplicated view, as a duckdb client runs it: the TSLA bar is not in silver.
        cmd.CommandText = "SELECT ticker, rule, rejected_by FROM financial_quotes_rejected_current";
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(("TSLA", SilverRules.TickerInJob, exec.ToString("D")), (reader.GetString(0), reader.GetString(1), reader.GetString(2)));
            Assert.False(await reader.ReadAsync());
        }
    }

    [Fact]
    public async Task TheQuarantineReader_ShowsEachBarStillQuarantinedOnce_EveryCopyOnRequest_AndOneExecutionsRows()
    {
        // Each execution fetches a minute later than the one before: its rows are the bar's newest ingestion.
        var executions = new List<Guid>();
        async Task<Guid> FetchAsync(params BarRecord[] rows)
        {
            var exec = Guid.NewGuid();
            var ingested = Now.AddMinutes(-30 + executions.Count);
            executions.Add(exec);
            await RunAsync(exec, [await WriteBronzeAsync(exec, Now, [.. rows.Select(r => r with { IngestedAt = ingested })])]);
            return exec;
        }

        var first = await FetchAsync(
            Row("AAPL", T.AddHours(-3)),
            Row("AAPL", T.AddHours(-2), o: 0),
            Row("MSFT", T.AddHours(-2), v: -5),
            Row("TSLA", T.AddHours(-1)));
        await FetchAsync(Row("MSFTX", T.AddHours(-4)));
        // A later window's overlap fetches the zero-open bar again: set aside again, by that execution.
        var third = await FetchAsync(Row("AAPL", T.AddHours(-2), o: 0));
        // A later fetch of the negative-volume bar passes: that bar is in silver now, quarantined no more. So is a bar
        // whose object repeats it: the earlier copy is quarantined (duplicate_in_batch), the later one is in silver.
        await FetchAsync(Row("MSFT", T.AddHours(-2)), Row("MSFT", T.AddHours(-5)), Row("MSFT", T.AddHours(-5), c: 10.5));
        // A bad restatement of a bar silver holds: silver keeps the older good row, but the newest fetch was rejected.
        var fifth = await FetchAsync(Row("AAPL", T.AddHours(-3), o: -1));
        var bucket = Path.Combine(_root, Job.SilverBucketName);

        var current = await FinancialPipeline.Warehouse.DuckDbQuarantineReader.ReadAsync(bucket, rejectedBy: null, allCopies: false, limit: 10, CancellationToken.None);
        var copies = await FinancialPipeline.Warehouse.DuckDbQuarantineReader.ReadAsync(bucket, rejectedBy: null, allCopies: true, limit: 10, CancellationToken.None);
        var mine = await FinancialPipeline.Warehouse.DuckDbQuarantineReader.ReadAsync(bucket, first, allCopies: false, limit: 2, CancellationToken.None);
        var none = await FinancialPipeline.Warehouse.DuckDbQuarantineReader.ReadAsync(Path.Combine(_root, "no-such-bucket"), null, false, 10, CancellationToken.None);

        Assert.NotNull(current);
        Assert.Equal((7L, 6L, 4L), (current.Copies, current.DistinctBars, current.CurrentBars));
        Assert.Equal(new[] { (SilverRules.TickerInJob, 2L), (SilverRules.PricePositive, 2L) }.Order(), current.ByRule.Order());
        Assert.Equal(
            new[] { ("TSLA", T.AddHours(-1), executions[0]), ("AAPL", T.AddHours(-2), third), ("AAPL", T.AddHours(-3), fifth), ("MSFTX", T.AddHours(-4), executions[1]) },
            current.Newest.Select(r => (r.Ticker, r.BarTs, Guid.Parse(r.RejectedBy))));
        var zeroOpen = current.Newest[1];
        Assert.Equal((0d, SilverRules.PricePositive, "synthetic"), (zeroOpen.Open, zeroOpen.Rule, zeroOpen.Provider));
        Assert.False(string.IsNullOrWhiteSpace(zeroOpen.Reason));

        Assert.NotNull(copies);
        Assert.Equal((7L, 6L, 4L), (copies.Copies, copies.DistinctBars, copies.CurrentBars));
        Assert.Equal(
            new[] { (SilverRules.TickerInJob, 2L), (SilverRules.PricePositive, 3L), (SilverRules.VolumeNonNegative, 1L), (SilverRules.DuplicateInBatch, 1L) }.Order(),
            copies.ByRule.Order());
        Assert.Equal(7, copies.Newest.Count);
        Assert.Equal(2, copies.Newest.Count(r => r.Ticker == "AAPL" && r.BarTs == T.AddHours(-2)));

        Assert.NotNull(mine);
        Assert.Equal((3L, 3L, (long?)null), (mine.Copies, mine.DistinctBars, mine.CurrentBars));
        Assert.Equal(3, mine.ByRule.Sum(r => r.Rows)); // its MSFT bar too, though a later fetch put that bar in silver
        Assert.Equal(2, mine.Newest.Count); // the limit
        Assert.Equal(T.AddHours(-1), mine.Newest[0].BarTs); // newest bar first
        Assert.All(mine.Newest, r => Assert.Equal(first.ToString("D"), r.RejectedBy));
        Assert.Null(none);
    }

    [Fact]
    public async Task TheQuarantineReader_ReadsABucketWithoutSilverPartitions_AsEveryBarStillQuarantined()
    {
        // Every row so far was rejected: the silver view has no file to bind to, and must not fail the reader.
        var exec = Guid.NewGuid();
        await RunAsync(exec, [await WriteBronzeAsync(exec, Now, [Row("TSLA", T.AddHours(-1)), Row("AAPL", T.AddHours(-2), o: 0)])], silverBucket: "fp-silver-rejects-only");
        Assert.False(Directory.Exists(Path.Combine(_root, "fp-silver-rejects-only", ObjectLayout.Dataset)));

        var read = await FinancialPipeline.Warehouse.DuckDbQuarantineReader.ReadAsync(Path.Combine(_root, "fp-silver-rejects-only"), null, false, 10, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal((2L, 2L, 2L), (read.Copies, read.DistinctBars, read.CurrentBars));
        Assert.Equal(["AAPL", "TSLA"], read.Newest.Select(r => r.Ticker).Order(StringComparer.Ordinal));
    }

    private static BarRecord Row(string ticker, DateTimeOffset at, double o = 10, double h = 11, double l = 9, double c = 10, long v = 100, Guid? exec = null) =>
        new(new QuoteBar(at, ticker, o, h, l, c, null, v), exec ?? Guid.Empty, Now.AddMinutes(-5), "synthetic");

    /// <summary>Hourly :30 bars of both job tickers, every hour (dates change at midnight UTC).</summary>
    private static IEnumerable<BarRecord> Bars(DateTimeOffset from, int hours, DateTimeOffset ingested, Guid exec)
    {
        foreach (var ticker in Job.Tickers)
        {
            for (var i = 0; i < hours; i++)
            {
                var at = from.AddHours(i);
                var price = 100 + (i % 17) + (ticker == "MSFT" ? 300 : 0);
                yield return new BarRecord(new QuoteBar(at, ticker, price, price + 1, price - 1, price + 0.5, null, 1000 + i), exec, ingested, "synthetic");
            }
        }
    }

    private async Task<string> WriteBronzeAsync(Guid exec, DateTimeOffset windowEnd, IReadOnlyList<BarRecord> rows, int part = 0)
    {
        var stamped = rows.Select(r => r.ExecutionId == Guid.Empty ? r with { ExecutionId = exec } : r).ToList();
        using var buffer = new MemoryStream();
        await BarParquet.WriteAsync(buffer, stamped);
        buffer.Position = 0;
        var name = ObjectLayout.BronzeObject(windowEnd, exec, part);
        await _store.UploadObjectAsync(Job.BucketName, name, "application/vnd.apache.parquet", buffer);
        return name;
    }

    private async Task<SilverResult> RunAsync(Guid exec, IReadOnlyList<string> bronze, SilverEngineOptions? options = null, string? silverBucket = null, IObjectStore? store = null, int attempt = 1, Func<CancellationToken, Task>? beforeWrite = null)
    {
        var job = silverBucket is null ? Job : Job with { SilverBucketName = silverBucket };
        var engine = new SilverEngine(store ?? _store, (options ?? new SilverEngineOptions()) with { WorkDirectory = Path.Combine(_root, "work") });
        Directory.CreateDirectory(Path.Combine(_root, "work"));
        SilverResult result;
        string workDirectory;
        using (var staged = await engine.StageAsync(new SilverBatch(job, exec, bronze, Now) { Attempt = attempt }, CancellationToken.None))
        {
            workDirectory = staged.WorkDirectory;
            result = await engine.CommitAsync(staged, beforeWrite ?? (_ => Task.CompletedTask), CancellationToken.None);
        }

        Assert.False(Directory.Exists(workDirectory), "the batch's downloads and spill files are deleted");
        return result;
    }

    private IEnumerable<string> SilverFiles()
    {
        var dir = Path.Combine(_root, Job.SilverBucketName, ObjectLayout.Dataset);
        return Directory.Exists(dir) ? Directory.GetFiles(dir, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal) : [];
    }

    private async Task<List<BarRecord>> ReadSilverAsync(DateOnly date)
    {
        using var buffer = new MemoryStream();
        await _store.DownloadObjectAsync(Job.SilverBucketName, ObjectLayout.SilverObject(date), buffer);
        buffer.Position = 0;
        return await BarParquet.ReadAsync(buffer);
    }

    private async Task<List<BarRecord>> ReadAllSilverAsync()
    {
        var all = new List<BarRecord>();
        foreach (var file in SilverFiles())
        {
            all.AddRange(await BarParquet.ReadAsync(new MemoryStream(File.ReadAllBytes(file))));
        }

        return all;
    }

    private async Task<List<RejectedRecord>> ReadQuarantineAsync(DateOnly date, Guid exec)
    {
        using var buffer = new MemoryStream();
        await _store.DownloadObjectAsync(Job.SilverBucketName, ObjectLayout.RejectedObject(date, exec), buffer);
        buffer.Position = 0;
        return await BarParquet.ReadRejectedAsync(buffer);
    }

    /// <summary>Counts what the engine's listings return, and under which prefixes it listed.</summary>
    private sealed class CountingListStore(IObjectStore inner) : DelegatingObjectStore(inner)
    {
        public List<string> Prefixes { get; } = [];

        public int Listed { get; private set; }

        public override async IAsyncEnumerable<StoredObject> ListObjectsAsync(string bucket, string prefix, ListObjectsOptions? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            Prefixes.Add(prefix);
            await foreach (var o in base.ListObjectsAsync(bucket, prefix, options, cancellationToken))
            {
                Listed++;
                yield return o;
            }
        }
    }

    /// <summary>
    /// Writes the new version of one object as the temporary sibling the filesystem store would rename, then
    /// "crashes" (throws) before the rename: the moment between writing the new partition and replacing the old.
    /// </summary>
    private sealed class CrashBeforeReplaceStore(FileSystemObjectStore inner, string crashOn) : DelegatingObjectStore(inner)
    {
        public bool Crashed { get; private set; }

        public override async Task<StoredObject> UploadObjectAsync(string bucket, string objectName, string contentType, Stream source, UploadObjectOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (objectName != crashOn)
            {
                return await base.UploadObjectAsync(bucket, objectName, contentType, source, options, cancellationToken);
            }

            var target = inner.PathOf(bucket, objectName);
            await using (var temp = File.Create(Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.tmp-{Guid.NewGuid():N}")))
            {
                await source.CopyToAsync(temp, cancellationToken);
            }

            Crashed = true;
            throw new IOException("injected crash between writing the new partition and replacing the old one");
        }
    }
}
