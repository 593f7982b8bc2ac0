using System.Diagnostics;
using System.Globalization;
using FinancialPipeline.DevServices;
using FinancialPipeline.Tests.Shared;
using Microsoft.Extensions.Logging;
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

        // The same database over the Unix-domain socket (how fp bench coldstart connects, as Cloud Run reaches Cloud SQL).
        Assert.NotNull(postgres.SocketConnectionString);
        Assert.StartsWith("/", new NpgsqlConnectionStringBuilder(postgres.SocketConnectionString).Host, StringComparison.Ordinal);
        await using (var overSocket = new NpgsqlConnection(postgres.SocketConnectionString))
        {
            await overSocket.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT inet_server_addr() IS NULL, current_database()", overSocket); // no address: not TCP
            await using var row = await cmd.ExecuteReaderAsync();
            Assert.True(await row.ReadAsync());
            Assert.True(row.GetBoolean(0));
            Assert.Equal(PostgresCluster.DatabaseName, row.GetString(1));
        }

        Assert.True(pgTree.Count > 1, "postmaster should have children (checkpointer, walwriter…)");

        // The emulator leads a process group of its own, so a stop also reaches what its launcher forked and orphaned.
        Assert.Contains(emulator.ProcessId, ProcessTrees.InGroup(emulator.ProcessId));
        var stat = File.ReadAllText("/proc/self/stat");
        var ownGroup = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[2], CultureInfo.InvariantCulture);
        Assert.DoesNotContain(emulator.ProcessId, ProcessTrees.InGroup(ownGroup)); // not in the test host's group
        Assert.All(pgTree.Concat(emulatorTree), pid => Assert.True(ProcessTrees.IsAlive(pid)));
        var dataDir = postgres.DataDirectory;

        await emulator.DisposeAsync();
        await postgres.DisposeAsync();

        await ProcessTrees.WaitGoneAsync(pgTree.Concat(emulatorTree).ToList(), TimeSpan.FromSeconds(10));
        Assert.Empty(ProcessTrees.InGroup(emulatorTree[0]));
        Assert.False(Directory.Exists(dataDir));
    }

    [Fact]
    public async Task PostgresCluster_WhoseDirectoryIsAlreadyGone_StopsWithoutLoggingAnException()
    {
        // A second signal during fp run's start-up: the exit handler removes the cluster's directory while the orderly
        // stop removes it too. The stop logged the DirectoryNotFoundException with its stack trace.
        var captured = new CapturingLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(captured).SetMinimumLevel(LogLevel.Information));
        var postgres = await PostgresCluster.StartAsync(loggers.CreateLogger<PostgresCluster>());
        var root = Path.GetDirectoryName(postgres.DataDirectory)!;
        var pgTree = ProcessTrees.Of(postgres.ProcessId);

        Directory.Delete(root, recursive: true);
        await postgres.DisposeAsync();

        await ProcessTrees.WaitGoneAsync(pgTree, TimeSpan.FromSeconds(10));
        Assert.False(Directory.Exists(root));
        Assert.DoesNotContain(captured.Lines, l => l.Level >= LogLevel.Warning && l.Message.StartsWith("could not remove", StringComparison.Ordinal));
        Assert.DoesNotContain(captured.Lines, l => l.Level >= LogLevel.Warning && l.Exception is not null);
    }

    [Fact]
    public async Task PostgresCluster_RestartedUnderIt_IsStoppedBeforeItsDirectoryIsRemoved()
    {
        // An operator trying an outage restarts the throwaway server by hand: the new postmaster is not fp's child,
        // and the stop used to leave it running on a deleted directory.
        var postgres = await PostgresCluster.StartAsync();
        var first = postgres.ProcessId;
        var dataDir = postgres.DataDirectory;
        await RunAsServerOwnerAsync(
            Path.Combine(PostgresCluster.FindBinDir(null), "pg_ctl"),
            "restart", "-D", dataDir, "-m", "fast", "-w", "-t", "30", "-l", Path.Combine(dataDir, "restarted.log"));
        var restarted = int.Parse(File.ReadLines(Path.Combine(dataDir, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        Assert.NotEqual(first, restarted);
        Assert.True(ProcessTrees.IsAlive(restarted));

        try
        {
            await postgres.DisposeAsync();

            await ProcessTrees.WaitGoneAsync([restarted], TimeSpan.FromSeconds(10));
            Assert.False(Directory.Exists(dataDir));
        }
        finally
        {
            if (ProcessTrees.IsAlive(restarted))
            {
                using var leftover = Process.GetProcessById(restarted); // the test started it: a failure must not leak it
                leftover.Kill();
            }
        }
    }

    private static async Task RunAsServerOwnerAsync(string exe, params string[] args)
    {
        using var process = Process.Start(PostgresCluster.AsServerOwner(exe, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{Path.GetFileName(exe)} exited {process.ExitCode}: {await stdout}{await stderr}");
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
