using System.Diagnostics;

namespace FinancialPipeline.Integration.Tests;

/// <summary>Waits on a condition with a timeout instead of sleeping.</summary>
internal static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:F0}s waiting for {what}");
            }

            await Task.Delay(100);
        }
    }

    public static Task WaitAsync(Func<Task<bool>> probe, TimeSpan timeout, string what) =>
        WaitAsync<object>(async () => await probe() ? new object() : null, timeout, what);
}
