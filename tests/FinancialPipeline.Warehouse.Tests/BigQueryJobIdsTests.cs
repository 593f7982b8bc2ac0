using FinancialPipeline.Warehouse.BigQuery;

namespace FinancialPipeline.Warehouse.Tests;

public sealed class BigQueryJobIdsTests
{
    private static readonly Guid Execution = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");

    [Fact]
    public void Same_inputs_give_the_same_valid_id()
    {
        var first = BigQueryJobIds.For(Execution, "gold", 2, "merge");
        var second = BigQueryJobIds.For(Guid.Parse(Execution.ToString()), "gold", 2, "merge");

        Assert.Equal("fp-gold-merge-0f8fad5bd9cb469fa16570867728950e-a2", first);
        Assert.Equal(first, second);
        Assert.True(BigQueryJobIds.IsValid(first));
    }

    [Fact]
    public void Attempt_stage_purpose_and_execution_each_change_the_id()
    {
        var ids = new[]
        {
            BigQueryJobIds.For(Execution, "gold", 1),
            BigQueryJobIds.For(Execution, "gold", 2),
            BigQueryJobIds.For(Execution, "silver", 1),
            BigQueryJobIds.For(Execution, "gold", 1, "merge"),
            BigQueryJobIds.For(Execution, "gold", 1, "ddl"),
            BigQueryJobIds.For(Guid.NewGuid(), "gold", 1),
        };

        Assert.Equal(ids.Length, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id => Assert.True(BigQueryJobIds.IsValid(id), id));
    }

    [Fact]
    public void Retry_ids_are_deterministic_distinct_and_valid()
    {
        var id = BigQueryJobIds.For(Execution, "gold", 1);

        Assert.Equal(id + "-r1", BigQueryJobIds.ForRetry(id, 1));
        Assert.NotEqual(BigQueryJobIds.ForRetry(id, 1), BigQueryJobIds.ForRetry(id, 2));
        Assert.True(BigQueryJobIds.IsValid(BigQueryJobIds.ForRetry(id, 2)));
    }

    [Theory]
    [InlineData("gold-x")]
    [InlineData("gold; DROP")]
    [InlineData("")]
    [InlineData("gö ld")]
    public void Stage_that_could_collide_or_break_the_id_is_rejected(string stage)
    {
        var ex = Assert.Throws<ArgumentException>(() => BigQueryJobIds.For(Execution, stage, 1));
        Assert.Contains($"'{stage}'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_execution_and_negative_attempt_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => BigQueryJobIds.For(Guid.Empty, "gold", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => BigQueryJobIds.For(Execution, "gold", -1));
        Assert.Throws<ArgumentException>(() => BigQueryJobIds.For(Execution, "gold", 1, "a.b"));
    }

    [Theory]
    [InlineData("ok_id-1", true)]
    [InlineData("has space", false)]
    [InlineData("semi;colon", false)]
    [InlineData("", false)]
    public void IsValid_follows_bigquery_job_id_rules(string id, bool valid) =>
        Assert.Equal(valid, BigQueryJobIds.IsValid(id));

    [Fact]
    public void IsValid_rejects_ids_over_1024_characters()
    {
        Assert.True(BigQueryJobIds.IsValid(new string('a', 1024)));
        Assert.False(BigQueryJobIds.IsValid(new string('a', 1025)));
    }
}
