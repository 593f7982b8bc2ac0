using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Stages.Runner;

/// <summary>Topic ids the stages publish to, derived from one prefix (the same convention as the topology).</summary>
public sealed record StageTopics(string Prefix)
{
    public string Start => Prefix + "start";

    public string CompletedOf(Stage stage) => Prefix + stage.ToWire() + "-completed";
}
