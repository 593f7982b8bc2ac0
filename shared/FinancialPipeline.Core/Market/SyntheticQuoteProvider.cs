using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Core.Market;

/// <summary>
/// Deterministic, realistic-looking quotes: every bar is a pure function of (ticker, bar start), so two
/// extractions of overlapping windows return identical bars. Log-price is fractal value noise (a random-walk
/// look-alike evaluable at any instant without replaying history); volume is log-normal-ish around a
/// per-ticker level. Only the regular sessions of <see cref="MarketCalendar"/> produce bars (no exchange holidays; early
/// closes end at 13:00).
/// </summary>
public sealed class SyntheticQuoteProvider : IQuoteProvider
{
    public const string ProviderName = Jobs.ProviderNames.Synthetic;

    private static readonly (double ScaleHours, double Amplitude)[] Octaves =
    [
        (1, 0.004), (6.5, 0.008), (32.5, 0.02), (162.5, 0.05), (1300, 0.12),
    ];

    /// <summary>The currency of every synthetic bar.</summary>
    public const string Currency = "USD";

    /// <summary>The exchange time zone of every synthetic bar: <see cref="MarketCalendar"/> keeps New York's sessions.</summary>
    public const string ExchangeTimezone = "America/New_York";

    public string Name => ProviderName;

    public Task<TickerQuotes> FetchAsync(string ticker, TimeWindow window, TimeSpan barSize, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var bars = new List<QuoteBar>();
        foreach (var start in MarketCalendar.BarStarts(window, barSize))
        {
            bars.Add(Bar(ticker, start, barSize));
        }

        return Task.FromResult(new TickerQuotes(ticker, bars));
    }

    /// <summary>The bar for <paramref name="ticker"/> starting at <paramref name="start"/>.</summary>
    public static QuoteBar Bar(string ticker, DateTimeOffset start, TimeSpan barSize)
    {
        var end = start + barSize;
        var close = MarketCalendar.SessionClose(start);
        if (end > close)
        {
            end = close;
        }

        var seed = Seed(ticker);
        var basePrice = 20 + (seed % 48000) / 100.0;
        var open = Price(seed, basePrice, start);
        var last = Price(seed, basePrice, end);
        var wiggleUp = 1 + (Unit(seed, start.ToUnixTimeSeconds(), 11) * 0.004);
        var wiggleDown = 1 - (Unit(seed, start.ToUnixTimeSeconds(), 13) * 0.004);
        var high = Math.Round(Math.Max(open, last) * wiggleUp, 4);
        var low = Math.Round(Math.Min(open, last) * wiggleDown, 4);
        var baseVolume = 200_000 + (long)(seed % 5_000_000);
        var volume = (long)(baseVolume * (0.3 + (1.4 * Unit(seed, start.ToUnixTimeSeconds(), 17))) * (barSize.TotalMinutes / 60.0));
        return new QuoteBar(start, ticker, Math.Round(open, 4), high, low, Math.Round(last, 4), barSize >= TimeSpan.FromDays(1) ? Math.Round(last, 4) : null, Math.Max(volume, 0), Currency, ExchangeTimezone);
    }

    private static double Price(ulong seed, double basePrice, DateTimeOffset at)
    {
        var hours = at.ToUnixTimeSeconds() / 3600.0;
        var logReturn = 0.0;
        for (var i = 0; i < Octaves.Length; i++)
        {
            var (scale, amplitude) = Octaves[i];
            logReturn += amplitude * ValueNoise(seed + (ulong)(i * 7919), hours / scale);
        }

        return basePrice * Math.Exp(logReturn);
    }

    /// <summary>Smoothly interpolated hash noise in [-1, 1].</summary>
    private static double ValueNoise(ulong seed, double x)
    {
        var i = (long)Math.Floor(x);
        var f = x - i;
        var a = (Unit(seed, i, 1) * 2) - 1;
        var b = (Unit(seed, i + 1, 1) * 2) - 1;
        var t = f * f * (3 - (2 * f));
        return a + ((b - a) * t);
    }

    private static double Unit(ulong seed, long point, int salt)
    {
        Span<byte> buffer = stackalloc byte[20];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, seed);
        BinaryPrimitives.WriteInt64LittleEndian(buffer[8..], point);
        BinaryPrimitives.WriteInt32LittleEndian(buffer[16..], salt);
        var h = XxHash64.HashToUInt64(buffer);
        return (h >> 11) * (1.0 / (1UL << 53));
    }

    private static ulong Seed(string ticker) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(ticker));
}
