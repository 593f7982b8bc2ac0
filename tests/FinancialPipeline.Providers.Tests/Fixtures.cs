using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Providers.Tests;

/// <summary>Hand-written chart responses in Yahoo's format, embedded from <c>Fixtures/</c>.</summary>
internal static class Fixtures
{
    /// <summary>Monday 2024-03-04, the day every hourly fixture covers.</summary>
    public static readonly TimeWindow Monday = new(At("2024-03-04T00:00:00Z"), At("2024-03-05T00:00:00Z"));

    public static byte[] Bytes(string name)
    {
        using var stream = Stream(name);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    public static Stream Stream(string name)
    {
        var assembly = typeof(Fixtures).Assembly;
        var resource = assembly.GetManifestResourceNames().SingleOrDefault(n => n.EndsWith("Fixtures." + name, StringComparison.Ordinal));
        return resource is null
            ? throw new InvalidOperationException($"no embedded fixture {name}")
            : assembly.GetManifestResourceStream(resource)!;
    }

    public static DateTimeOffset At(string isoUtc) =>
        DateTimeOffset.Parse(isoUtc, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal).ToUniversalTime();
}
