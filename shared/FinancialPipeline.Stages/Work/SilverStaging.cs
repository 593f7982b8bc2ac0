using System.Runtime.InteropServices;
using FinancialPipeline.Core.Parquet;

namespace FinancialPipeline.Stages.Work;

/// <summary>
/// One bar in the silver engine: primitives only (unmanaged, 80 bytes), so rows live in pooled arrays and spill
/// to disk as raw bytes. Strings are ids into <see cref="SymbolTable"/> and <see cref="LineageTable"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SilverRow
{
    public long Ts;
    public double Open;
    public double High;
    public double Low;
    public double Close;
    public double AdjClose;
    public long Volume;
    public int Ticker;
    public int Lineage;

    /// <summary>0 = the existing silver partition; 1..n = the n-th bronze object of the batch.</summary>
    public int Source;

    /// <summary>Row ordinal inside its source: "last occurrence" for in-batch duplicates, and the final tie-break.</summary>
    public int Seq;
    public byte Rule;
    public bool HasAdjClose;
}

/// <summary>Ticker ids (thread-safe); knows which tickers the job lists.</summary>
internal sealed class SymbolTable(IEnumerable<string> jobTickers)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _names = [];
    private readonly HashSet<string> _job = new(jobTickers, StringComparer.Ordinal);
    private bool[] _inJob = new bool[16];

    public int Intern(string ticker)
    {
        lock (_gate)
        {
            if (_ids.TryGetValue(ticker, out var id))
            {
                return id;
            }

            id = _names.Count;
            _names.Add(ticker);
            _ids.Add(ticker, id);
            if (id >= _inJob.Length)
            {
                Array.Resize(ref _inJob, _inJob.Length * 2);
            }

            _inJob[id] = _job.Contains(ticker);
            return id;
        }
    }

    public string Name(int id)
    {
        lock (_gate)
        {
            return _names[id];
        }
    }

    public bool InJob(int id)
    {
        lock (_gate)
        {
            return _inJob[id];
        }
    }

    /// <summary>Ordinal rank of each id among <paramref name="ids"/> (silver files are sorted by ticker, then bar_ts).</summary>
    public Dictionary<int, int> Ranks(IEnumerable<int> ids)
    {
        var distinct = ids.Distinct().Select(id => (Id: id, Name: Name(id))).ToList();
        distinct.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var ranks = new Dictionary<int, int>(distinct.Count);
        for (var i = 0; i < distinct.Count; i++)
        {
            ranks[distinct[i].Id] = i;
        }

        return ranks;
    }
}

/// <summary>
/// Which execution ingested a row, when and from where (with the provider's currency and exchange time zone for the
/// ticker, which one response reports once for all its bars); decides which version of a bar wins.
/// </summary>
internal sealed class LineageTable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Entry, int> _ids = [];
    private readonly List<Entry> _entries = [];

    public sealed record Entry(string ExecutionId, DateTime IngestedAt, string Provider, string? Currency = null, string? ExchangeTimezone = null);

    public int Intern(string? executionId, DateTime ingestedAt, string? provider, string? currency, string? exchangeTimezone, string where)
    {
        if (!Guid.TryParseExact(executionId, "D", out _))
        {
            throw new InvalidDataException($"{where}: execution_id '{executionId}' is not a UUID");
        }

        var key = new Entry(executionId, DateTime.SpecifyKind(ingestedAt, DateTimeKind.Utc), provider ?? string.Empty, currency, exchangeTimezone);
        lock (_gate)
        {
            if (!_ids.TryGetValue(key, out var id))
            {
                id = _entries.Count;
                _entries.Add(key);
                _ids.Add(key, id);
            }

            return id;
        }
    }

    public Entry Get(int id)
    {
        lock (_gate)
        {
            return _entries[id];
        }
    }

    /// <summary>A copy of the entries, indexed by id, for lock-free comparisons.</summary>
    public Entry[] Snapshot()
    {
        lock (_gate)
        {
            return [.. _entries];
        }
    }

    /// <summary>&gt; 0 when <paramref name="a"/> is the newer ingestion: later ingested_at, then the greater execution_id.</summary>
    public static int Compare(Entry a, Entry b)
    {
        var c = a.IngestedAt.Ticks.CompareTo(b.IngestedAt.Ticks);
        return c != 0 ? c : string.CompareOrdinal(a.ExecutionId, b.ExecutionId);
    }
}

/// <summary>
/// The rows of one bar date, in pooled chunks; when the batch's buffered rows exceed the budget every bucket
/// spills its chunks to a per-date file of raw rows, so memory stays bounded whatever the batch size.
/// </summary>
internal sealed class DateBucket(int dayNumber)
{
    public const int ChunkRows = 2048;

    public int DayNumber { get; } = dayNumber;

    public List<SilverRow[]> Chunks { get; } = [];

    public int LastChunkCount { get; set; } = ChunkRows;

    public long SpilledRows { get; set; }

    public string? SpillPath { get; set; }

    public long InMemoryRows => Chunks.Count == 0 ? 0 : ((long)(Chunks.Count - 1) * ChunkRows) + LastChunkCount;

    public long TotalRows => SpilledRows + InMemoryRows;

    public DateOnly Date => DateOnly.FromDayNumber(DayNumber);
}

/// <summary>Converts Parquet column arrays to engine rows and back.</summary>
internal static class SilverRowColumns
{
    public static BarColumns ToColumns(ReadOnlySpan<SilverRow> rows, SymbolTable symbols, LineageTable lineages)
    {
        var c = new BarColumns(rows.Length);
        var tickerId = -1;
        var ticker = string.Empty;
        var lineageId = -1;
        LineageTable.Entry? lineage = null;
        for (var i = 0; i < rows.Length; i++)
        {
            ref readonly var r = ref rows[i];
            if (r.Lineage != lineageId)
            {
                lineageId = r.Lineage;
                lineage = lineages.Get(lineageId);
            }

            if (r.Ticker != tickerId)
            {
                tickerId = r.Ticker;
                ticker = symbols.Name(tickerId);
            }

            c.Timestamp[i] = new DateTime(r.Ts, DateTimeKind.Utc);
            c.Ticker[i] = ticker;
            c.Open[i] = r.Open;
            c.High[i] = r.High;
            c.Low[i] = r.Low;
            c.Close[i] = r.Close;
            c.AdjClose[i] = r.HasAdjClose ? r.AdjClose : null;
            c.Volume[i] = r.Volume;
            c.ExecutionId[i] = lineage!.ExecutionId;
            c.IngestedAt[i] = lineage.IngestedAt;
            c.Provider[i] = lineage.Provider;
            c.Currency[i] = lineage.Currency;
            c.ExchangeTimezone[i] = lineage.ExchangeTimezone;
        }

        return c;
    }

    /// <summary>Fills <paramref name="target"/> from one row group; the rule is left to the caller.</summary>
    public static void FromColumns(BarColumns c, Span<SilverRow> target, int source, int firstSeq, SymbolTable symbols, LineageTable lineages, string where)
    {
        string? lastTicker = null;
        var tickerId = -1;
        string? lastExec = null;
        string? lastProvider = null;
        string? lastCurrency = null;
        string? lastZone = null;
        var lastIngested = long.MinValue;
        var lineageId = -1;
        for (var i = 0; i < c.Count; i++)
        {
            var ticker = c.Ticker[i] ?? string.Empty;
            if (!string.Equals(ticker, lastTicker, StringComparison.Ordinal))
            {
                tickerId = symbols.Intern(ticker);
                lastTicker = ticker;
            }

            var exec = c.ExecutionId[i];
            var provider = c.Provider[i];
            var ingested = c.IngestedAt[i];
            var currency = c.Currency[i];
            var zone = c.ExchangeTimezone[i];
            if (lineageId < 0 || ingested.Ticks != lastIngested || !string.Equals(exec, lastExec, StringComparison.Ordinal) || !string.Equals(provider, lastProvider, StringComparison.Ordinal)
                || !string.Equals(currency, lastCurrency, StringComparison.Ordinal) || !string.Equals(zone, lastZone, StringComparison.Ordinal))
            {
                lineageId = lineages.Intern(exec, ingested, provider, currency, zone, where);
                lastExec = exec;
                lastProvider = provider;
                lastCurrency = currency;
                lastZone = zone;
                lastIngested = ingested.Ticks;
            }

            var adj = c.AdjClose[i];
            target[i] = new SilverRow
            {
                Ts = c.Timestamp[i].Ticks,
                Open = c.Open[i],
                High = c.High[i],
                Low = c.Low[i],
                Close = c.Close[i],
                AdjClose = adj ?? 0,
                HasAdjClose = adj.HasValue,
                Volume = c.Volume[i],
                Ticker = tickerId,
                Lineage = lineageId,
                Source = source,
                Seq = firstSeq + i,
            };
        }
    }
}
