#!/usr/bin/perl
# Write the small MaxMind DB file test_enrich reads (usage: write-mmdb.pl OUT), with
# MaxMind::DB::Writer (Debian: libmaxmind-db-writer-perl): made here, never downloaded.
# The records use GeoLite2's field names (City: country, city; ASN: autonomous_system_*);
# IPv4 networks sit at ::a.b.c.d/96+n, where libmaxminddb looks IPv4 up in an IPv6 tree.
#   203.0.113.0/24   CN 中国/China, 上海/Shanghai, AS64500 "Example Transit"
#   198.51.100.0/24  US, no city, no ASN
#   2001:db8::/32    JP 日本/Japan, 东京/Tokyo, AS64501 "Example v6"
use strict;
use warnings;
use utf8;

use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT\n";
my %types = (
    country                        => 'map',
    city                           => 'map',
    names                          => 'map',
    iso_code                       => 'utf8_string',
    en                             => 'utf8_string',
    'zh-CN'                        => 'utf8_string',
    autonomous_system_number       => 'uint32',
    autonomous_system_organization => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    # the test networks are documentation ranges, which the writer leaves out by default
    remove_reserved_networks => 0,
    database_type         => 'qqnotify-Test-City-ASN',
    languages             => [ 'en', 'zh-CN' ],
    description           => { en => 'qqnotify test database' },
    map_key_type_callback => sub { $types{ $_[0] } },
);
$tree->insert_network(
    '::203.0.113.0/120',
    {
        country => { iso_code => 'CN', names => { en => 'China', 'zh-CN' => '中国' } },
        city    => { names => { en => 'Shanghai', 'zh-CN' => '上海' } },
        autonomous_system_number       => 64500,
        autonomous_system_organization => 'Example Transit',
    }
);
$tree->insert_network('::198.51.100.0/120',
    { country => { iso_code => 'US', names => { en => 'United States' } } });
$tree->insert_network(
    '2001:db8::/32',
    {
        country => { iso_code => 'JP', names => { en => 'Japan', 'zh-CN' => '日本' } },
        city    => { names => { en => 'Tokyo', 'zh-CN' => '东京' } },
        autonomous_system_number       => 64501,
        autonomous_system_organization => 'Example v6',
    }
);
open my $fh, '>:raw', $out or die "$out: $!\n";
$tree->write_tree($fh);
close $fh or die "$out: $!\n";
