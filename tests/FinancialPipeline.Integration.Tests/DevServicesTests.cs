using FinancialPipeline.DevServices;
using Npgsql;

namespace FinancialPipeline.Integration.Tests;

public sealed class DevServicesTests
{
    [Fact]
    public async Task PostgresClusterAndEmulator_LeaveNoProcessBehind()
    {
        var postgres = await PostgresCluster.StartAsync();
        var emulator = await PubSubEmulator.StartAsync();
        var pgTree = ProcessTrees.Of(postgres.ProcessId);
        var emulatorTree = emulator.ProcessTree();
        await using (var conn = new NpgsqlConnection(postgres.ConnectionString))
        {
            await conn.OpenAsync();
        }

        Assert.True(pgTree.Count > 1, "postmaster should have children (checkpointer, walwriter…)");
        Assert.All(pgTree.Concat(emulatorTree), pid => Assert.True(ProcessTrees.IsAlive(pid)));
        var dataDir = postgres.DataDirectory;

        await emulator.DisposeAsync();
        await postgres.DisposeAsync();

        await ProcessTrees.WaitGoneAsync(pgTree.Concat(emulatorTree).ToList(), TimeSpan.FromSeconds(10));
        Assert.False(Directory.Exists(dataDir));
    }

    [Fact]
    public void PgBinDir_WhenSet_IsUsed_AndAWrongOneIsAnErrorNamingIt()
    {
        var installed = PostgresCluster.FindBinDir(null);
        Assert.True(File.Exists(Path.Combine(installed, "initdb")));
        Assert.Equal(installed, PostgresCluster.FindBinDir(installed));

        var wrong = Directory.CreateTempSubdirectory("fp-no-pg-").FullName;
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => PostgresCluster.FindBinDir(wrong));
            Assert.Contains($"PG_BINDIR is '{wrong}'", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(wrong);
        }
    }
}
