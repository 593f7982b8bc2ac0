using System.Diagnostics;

namespace FinancialPipeline.Deploy.Tests;

/// <summary>The rendered script, checked by the real tools: bash runs it, shellcheck lints it.</summary>
public sealed class ScriptTests(RepositoryFixture repo) : IClassFixture<RepositoryFixture>
{
    [Theory]
    [InlineData(null)]
    [InlineData(30)] // adds the bronze lifecycle step: a subshell, a trap and a here-document
    public async Task ThePlanIsShellcheckClean(int? bronzeRetentionDays)
    {
        var script = DeploymentPlanner.Build(repo.Settings with { BronzeRetentionDays = bronzeRetentionDays }).ToBashScript();
        var path = Path.Combine(repo.Root, $"plan-{bronzeRetentionDays}.sh");
        await File.WriteAllTextAsync(path, script);

        var shellcheck = await RunAsync("shellcheck", ["--shell=bash", "--severity=style", "--external-sources", path]);
        Assert.True(shellcheck.ExitCode == 0, $"shellcheck found problems:\n{shellcheck.StdOut}{shellcheck.StdErr}");
        var syntax = await RunAsync("bash", ["-n", path]);
        Assert.True(syntax.ExitCode == 0, syntax.StdErr);
    }

    [Fact]
    public void TheScriptIsStrictAndPrintsEveryStepWithItsComment()
    {
        var plan = DeploymentPlanner.Build(repo.Settings);
        var script = plan.ToBashScript();
        Assert.StartsWith("#!/usr/bin/env bash\n", script, StringComparison.Ordinal);
        Assert.Contains("\nset -euo pipefail\n", script, StringComparison.Ordinal);
        Assert.All(plan.Steps, s => Assert.Contains("# " + s.Comment.Split('\n')[0] + "\n", script, StringComparison.Ordinal));
    }

    [Fact]
    public async Task EveryWordReachesTheCommandExactlyAsPlanned()
    {
        string[] words =
        [
            "plain", "with space", "it's", "double \"quoted\"", "$HOME", "`date`", "$(id)", "semi;colon", "a|b", "*", "~", "",
            "--flag=value with 'both' \"quotes\"", "new\nline", "back\\slash", "tab\tchar", "!bang", "#hash",
        ];
        var sql = "CREATE TABLE `p.d.t` (x STRING OPTIONS (description = 'It''s $x and `y`'))\nFP_INPUT\n  trailing spaces  ";
        var plan = new DeploymentPlan("quoting", [
            DeployStep.Run("every word", ["printf", "<%s>\\n", .. words]),
            DeployStep.Capture("captured", "captured", "printf", "%s", "from a capture"),
            DeployStep.Run("variable inside a word", "printf", "<%s>\\n", "pre-" + ShellQuoting.Variable("captured") + "-post it's"),
            DeployStep.RunWithInput("stdin kept verbatim", sql, "cat"),
            DeployStep.CreateIfMissing("skipped when the check succeeds", ["true"], "printf", "%s\\n", "not printed"),
            DeployStep.CreateIfMissing("run when the check fails", ["false"], "printf", "%s\\n", "created"),
        ]);
        var path = Path.Combine(repo.Root, "quoting.sh");
        await File.WriteAllTextAsync(path, plan.ToBashScript());

        var run = await RunAsync("bash", [path]);

        Assert.True(run.ExitCode == 0, run.StdErr);
        var expected = string.Concat(words.Select(w => $"<{w}>\n")) + "<pre-from a capture-post it's>\n" + sql + "\ncreated\ndeployment finished: 6 steps\n";
        Assert.Equal(expected, run.StdOut);
    }

    [Fact]
    public async Task TheNextStepsArePrintedLast_Verbatim_WithThisDeploymentsNames()
    {
        var settings = repo.Settings with { CloudSqlInstance = "ctl-db" };
        var plan = DeploymentPlanner.Build(settings);
        Assert.Contains(plan.NextSteps!, l => l.Contains($"cloud-sql-proxy {settings.ProjectId}:{settings.Region}:ctl-db", StringComparison.Ordinal));
        Assert.Contains(plan.NextSteps!, l => l.Contains($"--bucket {settings.BronzeBucket} --silver-bucket {settings.SilverBucket}", StringComparison.Ordinal));
        var path = Path.Combine(repo.Root, "next.sh");
        await File.WriteAllTextAsync(path, (plan with { Steps = [] }).ToBashScript());

        var run = await RunAsync("bash", [path]);

        Assert.True(run.ExitCode == 0, run.StdErr);
        Assert.Equal("deployment finished: 0 steps\n" + string.Concat(plan.NextSteps!.Select(l => l + "\n")), run.StdOut);
    }

    [Fact]
    public async Task AnInputFileIsARegularFileHoldingTheTextVerbatim_RemovedAfterwards_AndAFailureStopsTheScript()
    {
        var text = "{\"it's\": \"$HOME `date`\"}\nFP_INPUT\n  trailing spaces  ";
        var file = ShellQuoting.Variable("FP_TEST_FILE");
        // realpath -e fails on /dev/stdin (a pipe or a deleted here-document file), as gcloud storage's file reader does.
        string[] read = ["bash", "-c", "printf '%s\\n' \"$1\" >\"$2\"; cat \"$(realpath -e \"$1\")\"", "read", file, Path.Combine(repo.Root, "input-path")];
        var plan = new DeploymentPlan("input file", [
            DeployStep.RunWithInputFile("read by path", text, "FP_TEST_FILE", read),
            DeployStep.CreateIfMissing("the variable is gone", ["declare", "-p", "FP_TEST_FILE"], "printf", "\\n%s\\n", "unset"),
            DeployStep.RunWithInputFile("a failing command", "x", "FP_TEST_FILE", ["bash", "-c", "printf '%s\\n' \"$1\" >\"$2\"; exit 7", "fail", file, Path.Combine(repo.Root, "failed-path")]),
            DeployStep.Run("never reached", "printf", "%s", "reached"),
        ]);
        var path = Path.Combine(repo.Root, "input-file.sh");
        await File.WriteAllTextAsync(path, plan.ToBashScript());

        var run = await RunAsync("bash", [path]);

        Assert.Equal(7, run.ExitCode);
        Assert.Equal(text + "\n" + "\nunset\n", run.StdOut); // a here-document ends its last line
        foreach (var pathFile in new[] { "input-path", "failed-path" })
        {
            var input = (await File.ReadAllTextAsync(Path.Combine(repo.Root, pathFile))).TrimEnd('\n');
            Assert.StartsWith("/", input, StringComparison.Ordinal);
            Assert.False(File.Exists(input), $"{input} was left behind"); // removed, also after the command failed
        }
    }

    [Fact]
    public void AnInputFileStepMustNameItsFile()
    {
        Assert.Throws<ArgumentException>(() => DeployStep.RunWithInputFile("unnamed", "x", "FP_FILE", "cat", "/etc/hostname"));
        Assert.Throws<ArgumentException>(() => DeployStep.RunWithInputFile("bad name", "x", "FP-FILE", "cat", "FP-FILE"));
    }

    [Fact]
    public async Task AFailingRequirementStopsTheScriptWithItsMessage()
    {
        var plan = new DeploymentPlan("require", [
            DeployStep.Require("needs a value", "secret s has no version yet", "false"),
            DeployStep.Run("never reached", "printf", "%s", "reached"),
        ]);
        var path = Path.Combine(repo.Root, "require.sh");
        await File.WriteAllTextAsync(path, plan.ToBashScript());

        var run = await RunAsync("bash", [path]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("secret s has no version yet\n", run.StdErr);
        Assert.Equal("", run.StdOut);
    }

    [Fact]
    public async Task AGeneratedSecretExistsOnlyWhileItsCommandsRunAndOnlyWhenTheCheckFails()
    {
        var secret = ShellQuoting.Variable("FP_TEST_SECRET");
        var plan = new DeploymentPlan("generated secret", [
            DeployStep.GenerateSecretIfMissing(
                "generated when the check fails",
                ["false"],
                "FP_TEST_SECRET",
                new ScriptCommand(["bash", "-c", "echo 'user exists' >&2; exit 1"]) { OrElse = ["printf", "fallback:%s\\n", secret] },
                new ScriptCommand(["cat"]) { Input = "Password=" + secret + ";it's" }),
            DeployStep.GenerateSecretIfMissing("skipped when the check succeeds", ["true"], "FP_OTHER", new ScriptCommand(["printf", "%s", "not printed"])),
            DeployStep.CreateIfMissing("unset afterwards", ["declare", "-p", "FP_TEST_SECRET"], "printf", "\\n%s\\n", "unset"),
        ]);
        var path = Path.Combine(repo.Root, "generated.sh");
        await File.WriteAllTextAsync(path, plan.ToBashScript());

        var first = await RunAsync("bash", [path]);
        var second = await RunAsync("bash", [path]);

        Assert.True(first.ExitCode == 0, first.StdErr);
        var match = System.Text.RegularExpressions.Regex.Match(first.StdOut, "^fallback:([0-9a-f]{64})\nPassword=([0-9a-f]{64});it's\nunset\ndeployment finished: 3 steps\n$");
        Assert.True(match.Success, first.StdOut);
        Assert.Equal(match.Groups[1].Value, match.Groups[2].Value);
        Assert.Equal("", first.StdErr); // the failing first command's error is discarded: its fallback ran
        Assert.True(second.ExitCode == 0, second.StdErr);
        Assert.DoesNotContain(match.Groups[1].Value, second.StdOut, StringComparison.Ordinal); // a fresh value each time
        Assert.DoesNotContain(match.Groups[1].Value, await File.ReadAllTextAsync(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptyCaptureStopsTheScript()
    {
        var plan = new DeploymentPlan("capture", [
            DeployStep.Capture("the subscription of a trigger", "sub_x", "printf", ""),
            DeployStep.Run("never reached", "printf", "%s", "reached"),
        ]);
        var path = Path.Combine(repo.Root, "capture.sh");
        await File.WriteAllTextAsync(path, plan.ToBashScript());

        var run = await RunAsync("bash", [path]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("sub_x is empty", run.StdErr, StringComparison.Ordinal);
        Assert.Equal("", run.StdOut);
    }

    /// <summary>Runs a program to its end; <paramref name="environment"/> adds to (or replaces) this process's variables.</summary>
    internal static async Task<(int ExitCode, string StdOut, string StdErr)> RunAsync(
        string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            // A missing tool fails the test: the scripts must be checked, not assumed clean.
            Assert.Fail($"{program} is not installed ({ex.Message}); on Debian: apt-get install -y {program}");
            throw;
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stdout, await stderr);
        }
    }
}
