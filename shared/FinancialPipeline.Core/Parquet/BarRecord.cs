using FinancialPipeline.Core.Market;

namespace FinancialPipeline.Core.Parquet;

/// <summary>A bar plus its lineage: which execution ingested it, when, and from which provider.</summary>
public readonly record struct BarRecord(QuoteBar Bar, Guid ExecutionId, DateTimeOffset IngestedAt, string Provider);

/// <summary>A row that failed validation, kept with the rule it broke.</summary>
public readonly record struct RejectedRecord(BarRecord Record, string Rule, string Reason, Guid RejectedBy);
