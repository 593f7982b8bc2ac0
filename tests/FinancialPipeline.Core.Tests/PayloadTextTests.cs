using System.Text;
using FinancialPipeline.Core.Contracts;

namespace FinancialPipeline.Core.Tests;

public sealed class PayloadTextTests
{
    [Theory]
    [InlineData(new byte[0], "(empty)")]
    [InlineData(new byte[] { 0xc3, 0x28 }, "(2 bytes, not UTF-8)")]
    [InlineData(new byte[] { (byte)'a', (byte)'\n', (byte)'\t', 0x1b, (byte)'b' }, "a\\n\\t\\u001bb")]
    public void Preview_IsOneLineOfPrintableText(byte[] payload, string expected) =>
        Assert.Equal(expected, PayloadText.Preview(payload, 48));

    [Fact]
    public void Preview_StopsAtTheLimit_WithoutSplittingACharacter()
    {
        var text = string.Concat(Enumerable.Repeat("€😀", 40));
        var preview = PayloadText.Preview(Encoding.UTF8.GetBytes(text), 48);
        Assert.EndsWith("…", preview, StringComparison.Ordinal);
        Assert.StartsWith(preview[..^1], text, StringComparison.Ordinal);
        Assert.InRange(preview.Length, 49, 50);
    }

    [Fact]
    public void Printable_KeepsLineBreaksWhenAsked_AndEscapesEveryOtherControlCharacter()
    {
        Assert.Equal("a\nb\tc\\r\\u001b[31m\\u007f", PayloadText.Printable("a\nb\tc\r\u001b[31m\u007f", int.MaxValue, keepLineBreaks: true));
        Assert.Equal("a\\nb", PayloadText.Printable("a\nb", int.MaxValue, keepLineBreaks: false));
    }

    [Fact]
    public void TryDecode_IsStrict() =>
        Assert.Equal(("ok", (string?)null), (PayloadText.TryDecode("ok"u8), PayloadText.TryDecode([0xff])));

    [Theory]
    [InlineData("plain", 100, "plain")]
    [InlineData("a\0b", 100, "a\\u0000b")]              // PostgreSQL text refuses NUL
    [InlineData("ab\ud83d\ude00", 3, "ab")]                 // never cut inside a pair
    [InlineData("ab\ud83d\ude00", 4, "ab\ud83d\ude00")]
    [InlineData("abc\0", 5, "abc")]                         // nor inside the escape that replaces NUL
    public void StorableText_ReplacesWhatPostgreSqlRefuses_AndCutsOnACharacter(string value, int maxChars, string expected) =>
        Assert.Equal(expected, FinancialPipeline.ControlDb.StorableText.Of(value, maxChars));

    [Fact]
    public void StorableText_ReplacesUnpairedSurrogates()
    {
        // Built here, not in InlineData: test discovery serialises theory data as UTF-8, which cannot carry them.
        var value = new string(['x', (char)0xD800, 'y', (char)0xDC00]);

        Assert.Equal("x\uFFFDy\uFFFD", FinancialPipeline.ControlDb.StorableText.Of(value)); // jsonb and System.Text.Json refuse them
    }
}
