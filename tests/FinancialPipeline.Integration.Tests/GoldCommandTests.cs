using DuckDB.NET.Data;

namespace FinancialPipeline.Integration.Tests;

/// <summary><c>fp gold</c> as a child process when another process holds the DuckDB file for writing.</summary>
public sealed class GoldCommandTests
{
    [Fact]
    public async Task Gold_held_by_a_writer_in_another_process_is_waited_for_then_explained()
    {
        var data = Directory.CreateTempSubdirectory("fp-gold-");
        try
        {
            Directory.CreateDirectory(Path.Combine(data.FullName, "warehouse"));
            var path = Path.Combine(data.FullName, "warehouse", "gold.duckdb");
            await using var writer = new DuckDBConnection($"Data Source={path}");
            await writer.OpenAsync();

            var gold = await FpProcess.RunAsync(new Dictionary<string, string>(), "gold", "--data-dir", data.FullName);

            Assert.Equal(1, gold.ExitCode);
            Assert.StartsWith($"fp gold: {path} is held by another process", gold.Stderr, StringComparison.Ordinal);
            Assert.Contains("lock", gold.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }
}
