namespace FinancialPipeline.Core.Contracts;

/// <summary>The three medallion stages; the wire and ledger name is lower case.</summary>
public enum Stage
{
    Bronze,
    Silver,
    Gold,
}

public static class StageNames
{
    public const string Bronze = "bronze";
    public const string Silver = "silver";
    public const string Gold = "gold";

    public static string ToWire(this Stage stage) => stage switch
    {
        Stage.Bronze => Bronze,
        Stage.Silver => Silver,
        Stage.Gold => Gold,
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "unknown stage"),
    };

    public static bool TryParse(string? value, out Stage stage)
    {
        switch (value)
        {
            case Bronze: stage = Stage.Bronze; return true;
            case Silver: stage = Stage.Silver; return true;
            case Gold: stage = Stage.Gold; return true;
            default: stage = default; return false;
        }
    }

    /// <summary>The stage whose completion event triggers <paramref name="stage"/>, if any.</summary>
    public static Stage? Upstream(this Stage stage) => stage switch
    {
        Stage.Silver => Stage.Bronze,
        Stage.Gold => Stage.Silver,
        _ => null,
    };
}
