namespace FinancialPipeline.Deploy.Tests;

/// <summary>A role binding as a step of the plan grants it.</summary>
public sealed record Binding(string Resource, string Role, string Member);

internal static class PlanQueries
{
    /// <summary>Steps whose command starts with these words.</summary>
    public static List<DeployStep> Commands(this DeploymentPlan plan, params string[] prefix) =>
        plan.Steps.Where(s => s.Command.Count >= prefix.Length && s.Command.Take(prefix.Length).SequenceEqual(prefix)).ToList();

    /// <summary>Every IAM binding of the plan, with the resource written as "&lt;gcloud group&gt; &lt;name&gt;" (e.g. "pubsub topics fp-start").</summary>
    public static List<Binding> Bindings(this DeploymentPlan plan)
    {
        var bindings = new List<Binding>();
        foreach (var step in plan.Steps)
        {
            var verb = step.Command.ToList().IndexOf("add-iam-policy-binding");
            if (verb < 0)
            {
                continue;
            }

            var resource = step.Command[0] == "bq"
                ? "bq dataset " + step.Command[^1]
                : string.Join(' ', step.Command.Skip(1).Take(verb - 1)) + " " + ShellQuoting.Display(step.Command[verb + 1]);
            bindings.Add(new Binding(resource, step.Flag("--role")!, step.Flag("--member")!));
        }

        return bindings;
    }
}
