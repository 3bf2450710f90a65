using System.Net;
using AiMesh.ProviderAdapter.Images;

namespace AiMesh.Tests.Images;

public sealed class ImageAddressPolicyTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("10.0.0.1")]
    [InlineData("10.255.255.255")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.254")]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.255.254")]
    [InlineData("169.254.169.254")] // cloud metadata
    [InlineData("169.254.0.1")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.8")]
    [InlineData("192.0.2.1")]
    [InlineData("192.88.99.1")]
    [InlineData("192.168.1.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.255")]
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.7")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")] // IPv4-mapped
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:0.0.0.0")]
    [InlineData("::127.0.0.1")] // IPv4-compatible
    [InlineData("::10.0.0.1")]
    [InlineData("::ffff:0:10.0.0.1")] // SIIT IPv4-translated
    [InlineData("64:ff9b::a9fe:a9fe")] // NAT64 of 169.254.169.254
    [InlineData("64:ff9b::7f00:1")] // NAT64 of 127.0.0.1
    [InlineData("64:ff9b:1::808:808")] // local-use NAT64
    [InlineData("2002:7f00:1::1")] // 6to4 of 127.0.0.1
    [InlineData("2002:a9fe:a9fe::")] // 6to4 of 169.254.169.254
    [InlineData("2002:c0a8:101::1")] // 6to4 of 192.168.1.1
    [InlineData("fe80::1")]
    [InlineData("fe80::1%1")]
    [InlineData("febf:ffff::1")]
    [InlineData("fec0::1")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456:789a::1")]
    [InlineData("ff02::1")]
    [InlineData("ff05::1:3")]
    [InlineData("100::1")]
    [InlineData("2001::1")] // Teredo
    [InlineData("2001:db8::1")]
    [InlineData("3fff::1")]
    public void IsRefused_ReservedAddress_True(string address) =>
        Assert.True(ImageAddressPolicy.IsRefused(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("93.184.216.34")]
    [InlineData("11.0.0.1")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("192.169.0.1")]
    [InlineData("198.20.0.1")]
    [InlineData("223.255.255.254")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2a00:1450:4001:80b::200e")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")] // NAT64 of 8.8.8.8
    [InlineData("2002:808:808::1")] // 6to4 of 8.8.8.8
    public void IsRefused_PublicAddress_False(string address) =>
        Assert.False(ImageAddressPolicy.IsRefused(IPAddress.Parse(address)), address);

    /// <summary>Numeric host spellings: .NET's Uri reads them as the IPv4 address they mean, and the policy refuses it.</summary>
    [Theory]
    [InlineData("http://2130706433/", "127.0.0.1")]
    [InlineData("http://0x7f.0.0.1/", "127.0.0.1")]
    [InlineData("http://0x7f000001/", "127.0.0.1")]
    [InlineData("http://017700000001/", "127.0.0.1")]
    [InlineData("http://0177.0.0.1/", "127.0.0.1")]
    [InlineData("http://127.1/", "127.0.0.1")]
    [InlineData("http://0/", "0.0.0.0")]
    [InlineData("http://2852039166/", "169.254.169.254")]
    [InlineData("http://0xa9fea9fe/", "169.254.169.254")]
    [InlineData("http://[::1]/", "::1")]
    [InlineData("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1")]
    [InlineData("http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "::ffff:169.254.169.254")]
    public void IsRefused_NumericHostForms_AreReadAsTheAddressAndRefused(string url, string expected)
    {
        var uri = new Uri(url);

        Assert.True(IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var address), $"{url} → host '{uri.IdnHost}'");
        Assert.Equal(IPAddress.Parse(expected), address);
        Assert.True(ImageAddressPolicy.IsRefused(address));
    }
}
