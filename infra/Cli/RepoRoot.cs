namespace FinancialPipeline.Cli;

/// <summary>Benchmarks that build or publish projects run from a clone: find its root.</summary>
internal static class RepoRoot
{
    public static string Find()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "FinancialPipeline.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException("run this command from a clone of the repository (FinancialPipeline.sln not found above the current directory)");
    }
}
