using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Stages.Runner;

/// <summary>Topic ids the stages publish to, derived from one prefix (the same convention as the topology).</summary>
public sealed record StageTopics(string Prefix)
{
    public string Start => Prefix + "start";

    public string DeadLetter => Prefix + "dead-letter";

    /// <summary>Operational alerts that are not dead letters (zombie takeovers), consumed by the Alert function.</summary>
    public string Alerts => Prefix + "alerts";

    public string CompletedOf(Stage stage) => Prefix + stage.ToWire() + "-completed";

    /// <summary>The topic whose messages trigger <paramref name="stage"/>: where a replay of its trigger is published.</summary>
    public string TriggerOf(Stage stage) => stage.Upstream() is { } upstream ? CompletedOf(upstream) : Start;
}
