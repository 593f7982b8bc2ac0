var builder = WebApplication.CreateSlimBuilder(args);
builder.WebHost.UseUrls($"http://127.0.0.1:{builder.Configuration["PORT"] ?? "8080"}");
var app = builder.Build();
app.MapPost("/{**path}", () => Results.NoContent());
await app.RunAsync();
