namespace FinancialPipeline.Storage.Tests;

public sealed class ListTests : GcsTestBase
{
    [Fact]
    public async Task List_FollowsPageTokens_AndReturnsEveryObjectUnderThePrefixInOrder()
    {
        var store = CreateStore();
        var expected = Enumerable.Range(1, 7).Select(d => $"financial_quotes/date=2024-01-0{d}/part-00000.parquet").ToList();
        foreach (var name in expected.AsEnumerable().Reverse())
        {
            Server.Put(Bucket, name, [1, 2, 3]);
        }

        Server.Put(Bucket, "financial_quotes_rejected/date=2024-01-01/rejected.parquet", [1]);
        Server.Put(Bucket, "aaa", [1]);

        var listed = await store.ListObjectsAsync(Bucket, "financial_quotes/").ToListAsync();

        Assert.Equal(expected, listed.Select(o => o.Name));
        Assert.All(listed, o => Assert.Equal(3, o.Size));
        Assert.All(listed, o => Assert.Equal($"gs://{Bucket}/{o.Name}", o.Uri));
        var lists = Server.Requests.Where(r => r.Method == "GET").ToList();
        Assert.Equal(4, lists.Count);
        Assert.False(lists[0].Query.ContainsKey("pageToken"));
        Assert.All(lists.Skip(1), r => Assert.True(r.Query.ContainsKey("pageToken")));
        Assert.All(lists, r => Assert.Equal("financial_quotes/", r.Query["prefix"]));
    }

    [Fact]
    public async Task List_WithEmptyPrefix_ReturnsTheWholeBucket_AndHonoursThePageSizeOption()
    {
        var store = CreateStore(o => o.ListPageSize = 1);
        Server.Put(Bucket, "b", [1]);
        Server.Put(Bucket, "a", [1]);
        Server.Put(Bucket, "c/d", [1]);
        Server.Put("other-bucket", "e", [1]);

        var listed = await store.ListObjectsAsync(Bucket, string.Empty).ToListAsync();

        Assert.Equal(["a", "b", "c/d"], listed.Select(o => o.Name));
        Assert.Equal(3, Server.Requests.Count);
        Assert.All(Server.Requests, r => Assert.Equal("1", r.Query["maxResults"]));
        Assert.All(Server.Requests, r => Assert.False(r.Query.ContainsKey("prefix")));
    }

    [Fact]
    public async Task List_OfAnEmptyPrefix_YieldsNothing()
    {
        var store = CreateStore();

        Assert.Empty(await store.ListObjectsAsync(Bucket, "nothing/here/").ToListAsync());
    }

    [Fact]
    public async Task List_WithMatchGlob_SendsItToTheService_WhichReturnsOnlyTheMatches()
    {
        var store = CreateStore();
        Server.Put(Bucket, "financial_quotes_rejected/date=2024-01-01/rejected-a.parquet", [1]);
        Server.Put(Bucket, "financial_quotes_rejected/date=2024-01-01/rejected-b.parquet", [1]);
        Server.Put(Bucket, "financial_quotes_rejected/date=2024-01-02/rejected-a.parquet", [1]);

        var listed = await store.ListObjectsAsync(
            Bucket,
            "financial_quotes_rejected/",
            new Core.Storage.ListObjectsOptions { MatchGlob = "financial_quotes_rejected/**/rejected-a.parquet" }).ToListAsync();

        Assert.Equal(["financial_quotes_rejected/date=2024-01-01/rejected-a.parquet", "financial_quotes_rejected/date=2024-01-02/rejected-a.parquet"], listed.Select(o => o.Name));
        var list = Assert.Single(Server.Requests, r => r.Method == "GET");
        Assert.Equal("financial_quotes_rejected/**/rejected-a.parquet", list.Query["matchGlob"]);
    }

    [Fact]
    public async Task List_WithAMalformedGlob_FailsBeforeAnyRequest_NamingIt()
    {
        var store = CreateStore();

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await store.ListObjectsAsync(Bucket, "a/", new Core.Storage.ListObjectsOptions { MatchGlob = "a/[b" }).ToListAsync());

        Assert.Contains("matchGlob 'a/[b'", error.Message, StringComparison.Ordinal);
        Assert.Empty(Server.Requests);
    }
}
