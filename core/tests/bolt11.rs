//! BOLT 11 reader against the examples of the BOLT 11 specification (lightning/bolts,
//! 11-payment-encoding.md), plus property tests.
//!
//! Signature checks run with `--features secp256k1`.

use moneysocket_core::bech::BechError;
use moneysocket_core::bolt11::{
    parse_amount, payment_hash, write_amount, AmountError, Bolt11Error, Description, Field,
    Invoice, Network,
};
use proptest::prelude::*;
use std::num::NonZeroU64;

// ---- Valid examples ----
const DONATION: &str = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql";
const COFFEE: &str = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
const NONSENSE: &str = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpu9qrsgqhtjpauu9ur7fw2thcl4y9vfvh4m9wlfyz2gem29g5ghe2aak2pm3ps8fdhtceqsaagty2vph7utlgj48u0ged6a337aewvraedendscp573dxr";
const HASHED: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6txm9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x39ymw6j38gp7ynn44";
const TESTNET_P2PKH: &str = "lntb20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfpp3x9et2e20v6pu37c5d9vax37wxq72un989qrsgqdj545axuxtnfemtpwkc45hx9d2ft7x04mt8q7y6t0k2dge9e7h8kpy9p34ytyslj3yu569aalz2xdk8xkd7ltxqld94u8h2esmsmacgpghe9k8";
const ROUTE_HINTS: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqsfpp3qjmp7lwpagxun9pygexvgpjdc4jdj85fr9yq20q82gphp2nflc7jtzrcazrra7wwgzxqc8u7754cdlpfrmccae92qgzqvzq2ps8pqqqqqqpqqqqq9qqqvpeuqafqxu92d8lr6fvg0r5gv0heeeqgcrqlnm6jhphu9y00rrhy4grqszsvpcgpy9qqqqqqgqqqqq7qqzq9qrsgqdfjcdk6w3ak5pca9hwfwfh63zrrz06wwfya0ydlzpgzxkn5xagsqz7x9j4jwe7yj7vaf2k9lqsdk45kts2fd0fkr28am0u4w95tt2nsq76cqw0";
const P2SH: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfppj3a24vwu6r8ejrss3axul8rxldph2q7z99qrsgqz6qsgww34xlatfj6e3sngrwfy3ytkt29d2qttr8qz2mnedfqysuqypgqex4haa2h8fx3wnypranf3pdwyluftwe680jjcfp438u82xqphf75ym";
const P2WPKH: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfppqw508d6qejxtdg4y5r3zarvary0c5xw7k9qrsgqt29a0wturnys2hhxpner2e3plp6jyj8qx7548zr2z7ptgjjc7hljm98xhjym0dg52sdrvqamxdezkmqg4gdrvwwnf0kv2jdfnl4xatsqmrnsse";
const P2WSH: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqfp4qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q9qrsgq9vlvyj8cqvq6ggvpwd53jncp9nwc47xlrsnenq2zp70fq83qlgesn4u3uyf4tesfkkwwfg3qs54qe426hp3tz7z6sweqdjg05axsrjqp9yrrwc";
const P2TR: &str = "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqsfp4pptdvg0d2nj99568qn6ssdy4cygnwuxgw2ukmnwgwz7jpqjz2kszs9qrsgqy606dznq28exnydt2r4c29y56xjtn3sk4mhgjtl4pg2y4ar3249rq4ajlmj9jy8zvlzw7cr8mggqzm842xfr0v72rswzq9xvr4hknfsqwmn6xd";
const PICO: &str = "lnbc9678785340p1pwmna7lpp5gc3xfm08u9qy06djf8dfflhugl6p7lgza6dsjxq454gxhj9t7a0sd8dgfkx7cmtwd68yetpd5s9xar0wfjn5gpc8qhrsdfq24f5ggrxdaezqsnvda3kkum5wfjkzmfqf3jkgem9wgsyuctwdus9xgrcyqcjcgpzgfskx6eqf9hzqnteypzxz7fzypfhg6trddjhygrcyqezcgpzfysywmm5ypxxjemgw3hxjmn8yptk7untd9hxwg3q2d6xjcmtv4ezq7pqxgsxzmnyyqcjqmt0wfjjq6t5v4khxsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygsxqyjw5qcqp2rzjq0gxwkzc8w6323m55m4jyxcjwmy7stt9hwkwe2qxmy8zpsgg7jcuwz87fcqqeuqqqyqqqqlgqqqqn3qq9q9qrsgqrvgkpnmps664wgkp43l22qsgdw4ve24aca4nymnxddlnp8vh9v2sdxlu5ywdxefsfvm0fq3sesf08uf6q9a2ke0hc9j6z6wlxg5z5kqpu2v9wz";
const FEATURES: &str = "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdeessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q5sqqqqqqqqqqqqqqqqsgq2a25dxl5hrntdtn6zvydt7d66hyzsyhqs4wdynavys42xgl6sgx9c4g7me86a27t07mdtfry458rtjr0v92cnmswpsjscgt2vcse3sgpz3uapa";
const FEATURES_UPPER: &str = "LNBC25M1PVJLUEZPP5QQQSYQCYQ5RQWZQFQQQSYQCYQ5RQWZQFQQQSYQCYQ5RQWZQFQYPQDQ5VDHKVEN9V5SXYETPDEESSP5ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYG3ZYGS9Q5SQQQQQQQQQQQQQQQQSGQ2A25DXL5HRNTDTN6ZVYDT7D66HYZSYHQS4WDYNAVYS42XGL6SGX9C4G7ME86A27T07MDTFRY458RTJR0V92CNMSWPSJSCGT2VCSE3SGPZ3UAPA";
const IGNORED_FIELDS: &str = "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdeessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q5sqqqqqqqqqqqqqqqqsgq2qrqqqfppnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqppnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqpp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhpnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqhp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqspnqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsp4qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnp5qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnpkqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqz599y53s3ujmcfjp5xrdap68qxymkqphwsexhmhr8wdz5usdzkzrse33chw6dlp3jhuhge9ley7j2ayx36kawe7kmgg8sv5ugdyusdcqzn8z9x";
const METADATA: &str = "lnbc10m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdp9wpshjmt9de6zqmt9w3skgct5vysxjmnnd9jx2mq8q8a04uqsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q2gqqqqqqsgq7hf8he7ecf7n4ffphs6awl9t6676rrclv9ckg3d3ncn7fct63p6s365duk5wrk202cfy3aj5xnnp5gs3vrdvruverwwq7yzhkf5a3xqpd05wjc";
const HIGH_S_RECOVERY: &str = "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap2r09nt4ndd0unm3z9u5t48y6ucv4r5sg7lk98c77ctvjczkspk5qprc90gx";

// ---- Invalid examples ----
const BAD_FEATURE_100: &str = "lnbc25m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5vdhkven9v5sxyetpdeessp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9q4psqqqqqqqqqqqqqqqqsgqtqyx5vggfcsll4wu246hz02kp85x4katwsk9639we5n5yngc3yhqkm35jnjw4len8vrnqnf5ejh0mzj9n3vz2px97evektfm2l6wqccp3y7372";
const BAD_CHECKSUM: &str = "lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5fh0nnqpnl2jfll544esqchsrnt";
const BAD_NO_SEPARATOR: &str = "pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5fh0nnqpnl2jfll544esqchsrny";
const BAD_MIXED_CASE: &str = "LNBC2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpquwpc4curk03c9wlrswe78q4eyqc7d8d0xqzpuyk0sg5g70me25alkluzd2x62aysf2pyy8edtjeevuv4p2d5p76r4zkmneet7uvyakky2zr4cusd45tftc9c5fh0nnqpnl2jfll544esqchsrny";
const BAD_NOT_RECOVERABLE: &str = "lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqwgt7mcn5yqw3yx0w94pswkpq6j9uh6xfqqqtsk4tnarugeektd4hg5975x9am52rz4qskukxdmjemg92vvqz8nvmsye63r5ykel43pgz7zq0g2";
const BAD_TOO_SHORT: &str = "lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6na6hlh";
const BAD_MULTIPLIER: &str = "lnbc2500x1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqrrzc4cvfue4zp3hggxp47ag7xnrlr8vgcmkjxk3j5jqethnumgkpqp23z9jclu3v0a7e0aruz366e9wqdykw6dxhdzcjjhldxq0w6wgqcnu43j";
const BAD_SUB_MSAT: &str = "lnbc2500000001p1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpusp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgq0lzc236j96a95uv0m3umg28gclm5lqxtqqwk32uuk4k6673k6n5kfvx3d2h8s295fad45fdhmusm8sjudfhlf6dcsxmfvkeywmjdkxcp99202x";
const BAD_MISSING_SECRET: &str = "lnbc20m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2ahrqs9qrsgq7ea976txfraylvgzuxs8kgcw23ezlrszfnh8r6qtfpr6cxga50aj6txm9rxrydzd06dfeawfk6swupvz4erwnyutnjq7x39ymw6j38gp49qdkj";
const BAD_HIGH_S_WITH_N: &str = "lnbc25m1p70xwfzpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaqnp4q0n326hr8v9zprg8gsvezcch06gfaqqhde2aj730yg0durunfhv66sp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgqsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygsp5cfzp9ugllvk03rltd6hvndxj26ux6gcxc5azyxk060rj9tzghct5zvjlps76gx8wpq5yuu79688k8gnm2c0al6v608s96l0xzrrlqqwnzxmu";

const HASH: &str = "0001020304050607080900010203040506070809000102030405060708090102";
const SECRET: &str = "1111111111111111111111111111111111111111111111111111111111111111";
#[cfg_attr(not(feature = "secp256k1"), allow(dead_code))]
const PAYEE: &str = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad";
const TS: u64 = 1_496_314_658;
const CAKE_HASH: &str = "3925b6f67e2c340036ed12093dd44e0368df1b6ea26c53dbe4811f58fd5db8c1";
const CAKE: &str = "One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, one slice of salami, one lollypop, one piece of cherry pie, one sausage, one cupcake, and one slice of watermelon";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// What each valid example must decode to.
struct Expect {
    invoice: &'static str,
    network: Network,
    amount_msat: Option<u64>,
    timestamp: u64,
    payment_hash: &'static str,
    description: Result<&'static str, &'static str>,
    expiry: u64,
    min_final_cltv: u64,
    features: &'static [usize],
    signing_hash: Option<&'static str>,
}

fn base(invoice: &'static str) -> Expect {
    Expect {
        invoice,
        network: Network::Bitcoin,
        amount_msat: Some(2_000_000_000),
        timestamp: TS,
        payment_hash: HASH,
        description: Err(CAKE_HASH),
        expiry: 3600,
        min_final_cltv: 18,
        features: &[8, 14],
        signing_hash: None,
    }
}

fn valid_examples() -> Vec<Expect> {
    let coffee_beans = |invoice| Expect {
        amount_msat: Some(2_500_000_000),
        description: Ok("coffee beans"),
        features: &[8, 14, 99],
        ..base(invoice)
    };
    vec![
        Expect {
            amount_msat: None,
            description: Ok("Please consider supporting this project"),
            signing_hash: Some("6daf4d488be41ce7cbb487cab1ef2975e5efcea879b20d421f0ef86b07cbb987"),
            ..base(DONATION)
        },
        Expect {
            amount_msat: Some(250_000_000),
            description: Ok("1 cup coffee"),
            expiry: 60,
            signing_hash: Some("047e24bf270b25d42a56d57b2578faa3a10684641bab817c2851a871cb41dbc0"),
            ..base(COFFEE)
        },
        Expect {
            amount_msat: Some(250_000_000),
            description: Ok("ナンセンス 1杯"),
            expiry: 60,
            signing_hash: Some("f140d992ba419578ba9cfe1af85f92df90a76f442fb5e6e09b1f0582534ba87d"),
            ..base(NONSENSE)
        },
        Expect {
            signing_hash: Some("e2ffa444e2979edb639fbdaa384638683ba1a5240b14dd7a150e45a04eea261d"),
            ..base(HASHED)
        },
        Expect {
            network: Network::Testnet,
            signing_hash: Some("33bc6642a336097c74299cadfdfdd2e4884a555cf1b4fda72b095382d473d795"),
            ..base(TESTNET_P2PKH)
        },
        Expect {
            signing_hash: Some("b342d4655b984e53f405fe4d872fb9b7cf54ba538fcd170ed4a5906a9f535064"),
            ..base(ROUTE_HINTS)
        },
        Expect {
            signing_hash: Some("9e93321a775f7dffdca03e61d1ac6e0e356cc63cecd3835271200c1e5b499d29"),
            ..base(P2SH)
        },
        Expect {
            signing_hash: Some("44fbec32cdac99a1a3cd638ec507dad633a1e5bba514832fd3471e663a157f7b"),
            ..base(P2WPKH)
        },
        Expect {
            signing_hash: Some("865a2cc6730e1eeeacd30e6da8e9ab0e9115828d27953ec0c0f985db05da5027"),
            ..base(P2WSH)
        },
        Expect {
            signing_hash: Some("116fdb0f18352c886deb263f6466eb40e5e6518b80231a1f9df86088bfa48043"),
            ..base(P2TR)
        },
        Expect {
            amount_msat: Some(967_878_534),
            timestamp: 1_572_468_703,
            payment_hash: "462264ede7e14047e9b249da94fefc47f41f7d02ee9b091815a5506bc8abf75f",
            description: Ok("Blockstream Store: 88.85 USD for Blockstream Ledger Nano S x 1, \"Back In My Day\" Sticker x 2, \"I Got Lightning Working\" Sticker x 2 and 1 more items"),
            expiry: 604_800,
            min_final_cltv: 10,
            ..base(PICO)
        },
        coffee_beans(FEATURES),
        coffee_beans(FEATURES_UPPER),
        coffee_beans(IGNORED_FIELDS),
        Expect {
            amount_msat: Some(1_000_000_000),
            description: Ok("payment metadata inside"),
            features: &[8, 14, 48],
            ..base(METADATA)
        },
        Expect {
            amount_msat: None,
            description: Ok("Please consider supporting this project"),
            signing_hash: Some("6daf4d488be41ce7cbb487cab1ef2975e5efcea879b20d421f0ef86b07cbb987"),
            ..base(HIGH_S_RECOVERY)
        },
    ]
}

#[test]
fn valid_examples_parse() {
    for e in valid_examples() {
        let inv = Invoice::parse(e.invoice).unwrap_or_else(|err| panic!("{}: {err}", e.invoice));
        assert_eq!(inv.network(), e.network, "{}", e.invoice);
        assert_eq!(inv.amount_msat(), e.amount_msat, "{}", e.invoice);
        assert_eq!(inv.timestamp(), e.timestamp, "{}", e.invoice);
        assert_eq!(
            &inv.payment_hash()[..],
            &hex(e.payment_hash)[..],
            "{}",
            e.invoice
        );
        assert_eq!(&inv.payment_secret()[..], &hex(SECRET)[..], "{}", e.invoice);
        match (inv.description(), e.description) {
            (Description::Direct(d), Ok(want)) => {
                assert_eq!(d.as_str(), want);
                assert!(inv.description_matches(want.as_bytes()));
            }
            (Description::Hash(h), Err(want)) => {
                assert_eq!(&h[..], &hex(want)[..]);
                assert!(inv.description_matches(CAKE.as_bytes()));
                assert!(!inv.description_matches(b"cake"));
            }
            (got, want) => panic!("{}: description {got:?}, want {want:?}", e.invoice),
        }
        assert_eq!(inv.expiry_secs(), e.expiry, "{}", e.invoice);
        assert_eq!(inv.expires_at(), e.timestamp + e.expiry);
        assert!(!inv.is_expired(e.timestamp + e.expiry - 1));
        assert!(inv.is_expired(e.timestamp + e.expiry));
        assert_eq!(
            inv.min_final_cltv_expiry_delta(),
            e.min_final_cltv,
            "{}",
            e.invoice
        );
        let bits: Vec<usize> = inv.features().iter_set().collect();
        assert_eq!(bits, e.features, "{}", e.invoice);
        assert!(inv.payee_node_id().is_none());
        if let Some(h) = e.signing_hash {
            assert_eq!(&inv.signing_hash()[..], &hex(h)[..], "{}", e.invoice);
        }
        assert_eq!(e.invoice.parse::<Invoice>(), Ok(inv));
    }
}

#[test]
fn example_details() {
    let inv = Invoice::parse(METADATA).unwrap();
    assert_eq!(inv.metadata(), Some(&[0x01, 0xfa, 0xfa, 0xf0][..]));
    assert!(Invoice::parse(DONATION).unwrap().metadata().is_none());
    assert_eq!(
        Invoice::parse(FEATURES).unwrap(),
        Invoice::parse(FEATURES_UPPER).unwrap()
    );
    // The example with wrong-length p/h/s/n fields keeps the first valid ones.
    assert_eq!(
        Invoice::parse(IGNORED_FIELDS).unwrap().payment_hash(),
        Invoice::parse(FEATURES).unwrap().payment_hash()
    );
    // Signature bytes and recovery flag, from the specification's breakdown.
    let inv = Invoice::parse(DONATION).unwrap();
    assert_eq!(
        &inv.signature()[..],
        &hex("8d3ce9e28357337f62da0162d9454df827f83cfe499aeb1c1db349d4d81127425e434ca29929406c23bba1ae8ac6ca32880b38d4bf6ff874024cac34ba9625f1")[..]
    );
    assert_eq!(inv.recovery_id(), 1);
    assert_eq!(Invoice::parse(ROUTE_HINTS).unwrap().recovery_id(), 0);
}

#[test]
fn invalid_examples_rejected() {
    let cases: &[(&str, Bolt11Error)] = &[
        (
            BAD_FEATURE_100,
            Bolt11Error::UnknownRequiredFeature { bit: 100 },
        ),
        (BAD_CHECKSUM, Bolt11Error::Bech32(BechError::Checksum)),
        (BAD_NO_SEPARATOR, Bolt11Error::Bech32(BechError::Syntax)),
        (BAD_MIXED_CASE, Bolt11Error::Bech32(BechError::Syntax)),
        (BAD_TOO_SHORT, Bolt11Error::TooShort { groups: 103 }),
        (
            BAD_MULTIPLIER,
            Bolt11Error::Amount(AmountError::InvalidMultiplier('x')),
        ),
        (
            BAD_SUB_MSAT,
            Bolt11Error::Amount(AmountError::SubMillisatoshi),
        ),
        (
            BAD_MISSING_SECRET,
            Bolt11Error::Missing(Field::PaymentSecret),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(Invoice::parse(s).as_ref().err(), Some(want), "{s}");
        // Every error says something.
        assert!(!want.to_string().is_empty());
    }
    // These two are structurally fine; only the signature check rejects them.
    for s in [BAD_NOT_RECOVERABLE, BAD_HIGH_S_WITH_N] {
        assert!(Invoice::parse(s).is_ok(), "{s}");
    }
}

#[test]
fn error_messages_name_the_field() {
    assert_eq!(
        Bolt11Error::Missing(Field::PaymentSecret).to_string(),
        "invoice has no payment secret (s) field"
    );
    assert_eq!(
        Bolt11Error::Truncated {
            field: Field::RouteHint,
            at: 40
        }
        .to_string(),
        "route hint (r) field at group 40 runs into the signature"
    );
}

#[cfg(feature = "secp256k1")]
mod signatures {
    use super::*;
    use moneysocket_core::bolt11::VerifiedInvoice;

    #[test]
    fn valid_examples_recover_the_payee() {
        for e in valid_examples() {
            let v = VerifiedInvoice::parse(e.invoice)
                .unwrap_or_else(|err| panic!("{}: {err}", e.invoice));
            assert_eq!(v.amount_msat(), e.amount_msat);
            if e.invoice == HIGH_S_RECOVERY {
                continue; // see high_s_example_recovers_with_its_recovery_id
            }
            assert_eq!(&v.payee_pubkey()[..], &hex(PAYEE)[..], "{}", e.invoice);
        }
    }

    /// The high-S example is the donation example with `s` replaced by `n - s` but the same
    /// recovery id 1. Public-key recovery (libsecp256k1's, as the specification requires:
    /// "accept both high-S and low-S") accepts it, but that (r, n - s, 1) recovers another
    /// key than (r, s, 1): negating `s` also flips the parity of R. The spec's payee key
    /// comes out for recovery id 0 instead.
    #[test]
    fn high_s_example_recovers_with_its_recovery_id() {
        let high = Invoice::parse(HIGH_S_RECOVERY).unwrap();
        let low = Invoice::parse(DONATION).unwrap();
        assert_eq!(high.signing_hash(), low.signing_hash());
        assert_eq!(high.signature()[..32], low.signature()[..32]);
        assert_ne!(high.signature()[32..], low.signature()[32..]);
        assert_eq!(high.recovery_id(), 1);
        let key = high.recover_payee().unwrap();
        assert_eq!(
            &key[..],
            &hex("02d0139ce7427d6dfffd26a326c18be754ef1e64672b42694ba5b23ef6e6e7803d")[..]
        );

        use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
        use secp256k1::{Message, Secp256k1};
        let mut buf = vec![secp256k1::ffi::types::AlignedType::zeroed(); 64];
        let secp = Secp256k1::preallocated_verification_only(&mut buf).unwrap();
        let msg = Message::from_digest(*high.signing_hash());
        let flipped =
            RecoverableSignature::from_compact(high.signature(), RecoveryId::from_i32(0).unwrap())
                .unwrap();
        let key = secp.recover_ecdsa(&msg, &flipped).unwrap().serialize();
        assert_eq!(&key[..], &hex(PAYEE)[..]);
    }

    /// Signs `groups` under `hrp` with the specification's example key.
    fn signed(hrp: &str, mut groups: Vec<u8>) -> String {
        use secp256k1::{Message, Secp256k1, SecretKey};
        use sha2::{Digest, Sha256};
        let mut buf = vec![secp256k1::ffi::types::AlignedType::zeroed(); 64];
        let secp = Secp256k1::preallocated_signing_only(&mut buf).unwrap();
        let sk = SecretKey::from_slice(&hex(
            "e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734",
        ))
        .unwrap();
        let mut pre = hrp.as_bytes().to_vec();
        pre.extend(to_bytes_padded(&groups));
        let msg = Message::from_digest(Sha256::digest(&pre).into());
        let (id, rs) = secp.sign_ecdsa_recoverable(&msg, &sk).serialize_compact();
        let mut sig = rs.to_vec();
        sig.push(id.to_i32() as u8);
        groups.extend(to_groups(&sig));
        encode_groups(hrp, &groups)
    }

    #[test]
    fn n_field_is_checked() {
        let plain = signed("lntb5u", body(&[desc("tea")]));
        let v = VerifiedInvoice::parse(&plain).unwrap();
        assert_eq!(&v.payee_pubkey()[..], &hex(PAYEE)[..]);
        assert_eq!(v.amount_msat(), Some(500_000));

        let with_n = signed(
            "lntb5u",
            body(&[desc("tea"), field(TAG_N, &to_groups(&hex(PAYEE)))]),
        );
        let v = VerifiedInvoice::parse(&with_n).unwrap();
        assert_eq!(&v.payee_pubkey()[..], &hex(PAYEE)[..]);
        assert_eq!(v.payee_node_id(), Some(v.payee_pubkey()));

        let other = hex("029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255");
        let wrong_n = signed(
            "lntb5u",
            body(&[desc("tea"), field(TAG_N, &to_groups(&other))]),
        );
        assert_eq!(
            VerifiedInvoice::parse(&wrong_n).unwrap_err(),
            Bolt11Error::SignatureMismatch
        );
        // 02 followed by an x that is not on the curve.
        let mut off_curve = vec![2u8];
        off_curve.extend([0u8; 32]);
        let bad_n = signed(
            "lntb5u",
            body(&[desc("tea"), field(TAG_N, &to_groups(&off_curve))]),
        );
        assert_eq!(
            VerifiedInvoice::parse(&bad_n).unwrap_err(),
            Bolt11Error::InvalidPayeeKey
        );
        // Changing signed data (here the amount, in the HRP) changes the recovered key.
        let c = moneysocket_core::bech::Checked::new(&plain).unwrap();
        let groups: Vec<u8> = c.groups().collect();
        let tampered = Invoice::parse(&encode_groups("lntb6u", &groups)).unwrap();
        match VerifiedInvoice::new(tampered.clone()) {
            Ok(v) => assert_ne!(&v.payee_pubkey()[..], &hex(PAYEE)[..]),
            Err(e) => assert_eq!(e, Bolt11Error::InvalidSignature),
        }
        let v = VerifiedInvoice::parse(&plain).unwrap();
        assert_eq!(v.invoice(), &Invoice::parse(&plain).unwrap());
        assert_eq!(v.into_invoice(), Invoice::parse(&plain).unwrap());
    }

    #[test]
    fn invalid_signatures_rejected() {
        assert_eq!(
            VerifiedInvoice::parse(BAD_NOT_RECOVERABLE).err(),
            Some(Bolt11Error::InvalidSignature)
        );
        let inv = Invoice::parse(BAD_HIGH_S_WITH_N).unwrap();
        assert_eq!(&inv.payee_node_id().unwrap()[..], &hex(PAYEE)[..]);
        assert_eq!(inv.recover_payee(), Err(Bolt11Error::HighS));
    }
}

// ---- Hand-built invoices ----

const TAG_P: u8 = 1;
const TAG_S: u8 = 16;
const TAG_D: u8 = 13;
const TAG_H: u8 = 23;
const TAG_N: u8 = 19;
const TAG_X: u8 = 6;
const TAG_C: u8 = 24;
const TAG_9: u8 = 5;

/// Bytes to 5-bit groups, zero padded.
fn to_groups(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = acc << 8 | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push((acc >> bits) as u8 & 31);
        }
    }
    if bits > 0 {
        out.push((acc << (5 - bits)) as u8 & 31);
    }
    out
}

/// 5-bit groups to bytes, zero padded (the signing preimage rule).
fn to_bytes_padded(groups: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &g in groups {
        acc = (acc << 5 | u32::from(g)) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push((acc << (8 - bits)) as u8);
    }
    out
}

fn field(tag: u8, groups: &[u8]) -> Vec<u8> {
    let len = groups.len();
    let mut v = vec![tag, (len >> 5) as u8, (len & 31) as u8];
    v.extend_from_slice(groups);
    v
}

fn timestamp_groups(ts: u64) -> Vec<u8> {
    (0..7).rev().map(|i| (ts >> (5 * i)) as u8 & 31).collect()
}

/// Timestamp, payment hash and secret, then `extra` fields.
fn body(extra: &[Vec<u8>]) -> Vec<u8> {
    let mut g = timestamp_groups(TS);
    g.extend(field(TAG_P, &to_groups(&hex(HASH))));
    g.extend(field(TAG_S, &to_groups(&hex(SECRET))));
    for f in extra {
        g.extend_from_slice(f);
    }
    g
}

/// Appends a signature of 64 zero bytes and recovery id `recid`.
fn with_dummy_signature(hrp: &str, mut groups: Vec<u8>, recid: u8) -> String {
    let mut sig = [0u8; 65];
    sig[64] = recid;
    groups.extend(to_groups(&sig));
    encode_groups(hrp, &groups)
}

fn desc(text: &str) -> Vec<u8> {
    field(TAG_D, &to_groups(text.as_bytes()))
}

fn parse_err(hrp: &str, groups: Vec<u8>) -> Bolt11Error {
    Invoice::parse(&with_dummy_signature(hrp, groups, 0)).unwrap_err()
}

#[test]
fn field_rules() {
    // A minimal valid invoice.
    let inv = Invoice::parse(&with_dummy_signature("lnbcrt", body(&[desc("hi")]), 3)).unwrap();
    assert_eq!(inv.network(), Network::Regtest);
    assert_eq!(inv.amount_msat(), None);
    assert_eq!(inv.recovery_id(), 3);
    assert_eq!(inv.expiry_secs(), 3600);
    assert_eq!(inv.min_final_cltv_expiry_delta(), 18);
    assert!(inv.features().as_bytes().is_empty());
    // The signing hash is SHA-256 of hrp ‖ zero-padded data.
    {
        use sha2::{Digest, Sha256};
        let mut pre = b"lnbcrt".to_vec();
        pre.extend(to_bytes_padded(&body(&[desc("hi")])));
        assert_eq!(&inv.signing_hash()[..], &Sha256::digest(&pre)[..]);
    }

    assert_eq!(
        parse_err("lnxy", body(&[desc("hi")])),
        Bolt11Error::UnknownPrefix
    );
    assert_eq!(
        parse_err("lntbs0", body(&[desc("hi")])),
        Bolt11Error::Amount(AmountError::LeadingZero)
    );
    assert_eq!(
        parse_err("lnbc", body(&[desc("hi"), field(TAG_H, &[0; 52])])),
        Bolt11Error::BothDescriptions
    );
    assert_eq!(
        parse_err("lnbc", body(&[])),
        Bolt11Error::Missing(Field::Description)
    );
    let mut no_hash = timestamp_groups(TS);
    no_hash.extend(field(TAG_S, &to_groups(&hex(SECRET))));
    no_hash.extend(desc("x"));
    assert_eq!(
        parse_err("lnbc", no_hash),
        Bolt11Error::Missing(Field::PaymentHash)
    );
    assert_eq!(
        parse_err("lnbc", body(&[desc("x"), field(TAG_X, &[0, 1])])),
        Bolt11Error::NonMinimal {
            field: Field::Expiry
        }
    );
    assert_eq!(
        parse_err("lnbc", body(&[desc("x"), field(TAG_C, &[31; 13])])),
        Bolt11Error::Overflow {
            field: Field::MinFinalCltvExpiryDelta
        }
    );
    assert_eq!(
        parse_err("lnbc", body(&[desc("x"), field(TAG_9, &[0, 16, 8, 0])])),
        Bolt11Error::NonMinimal {
            field: Field::Features
        }
    );
    assert_eq!(
        parse_err("lnbc", body(&[field(TAG_D, &to_groups(&[0xff, 0xfe]))])),
        Bolt11Error::InvalidUtf8
    );
    assert_eq!(
        parse_err("lnbc", body(&[field(TAG_D, &[31, 31])])),
        Bolt11Error::Padding {
            field: Field::Description
        }
    );
    let mut bad_key = vec![4u8];
    bad_key.extend([7u8; 32]);
    assert_eq!(
        parse_err(
            "lnbc",
            body(&[desc("x"), field(TAG_N, &to_groups(&bad_key))])
        ),
        Bolt11Error::InvalidPayeeKey
    );
    // A field claiming more data than there is before the signature.
    let mut g = body(&[desc("x")]);
    let at = g.len();
    g.extend([TAG_D, 3, 0]);
    assert_eq!(
        parse_err("lnbc", g),
        Bolt11Error::Truncated {
            field: Field::Description,
            at
        }
    );
    // Recovery id out of range.
    assert_eq!(
        Invoice::parse(&with_dummy_signature("lnbc", body(&[desc("x")]), 4)).unwrap_err(),
        Bolt11Error::InvalidRecoveryId(4)
    );
}

#[test]
fn field_choices() {
    // First of a kind wins; unknown tags and wrong-length fixed fields are skipped.
    let inv = Invoice::parse(&with_dummy_signature(
        "lnbc10n",
        body(&[
            field(TAG_P, &[0; 51]),
            field(TAG_P, &to_groups(&[9; 32])),
            desc("first"),
            desc("second"),
            field(0, &[1, 2, 3]),
            field(31, &[]),
            field(TAG_X, &[1, 28]),
            field(TAG_X, &[2]),
            field(TAG_C, &[]),
            field(TAG_9, &[]),
        ]),
        0,
    ))
    .unwrap();
    assert_eq!(inv.amount_msat(), Some(1000));
    assert_eq!(&inv.payment_hash()[..], &hex(HASH)[..]);
    assert_eq!(
        inv.description(),
        &Description::Direct("first".try_into().unwrap())
    );
    assert_eq!(inv.expiry_secs(), 60);
    assert_eq!(inv.min_final_cltv_expiry_delta(), 0);
    // Longest description: 639 bytes in 1023 groups.
    let long = "é".repeat(319) + "!";
    assert_eq!(long.len(), 639);
    let d = desc(&long);
    assert_eq!(d.len(), 3 + 1023);
    let inv = Invoice::parse(&with_dummy_signature("lnbc", body(&[d]), 0)).unwrap();
    assert_eq!(
        inv.description(),
        &Description::Direct(long.as_str().try_into().unwrap())
    );
    // Empty description.
    let inv = Invoice::parse(&with_dummy_signature("lnbc", body(&[field(TAG_D, &[])]), 0)).unwrap();
    assert_eq!(inv.description(), &Description::Direct(Default::default()));
    // A 60-bit expiry.
    let inv = Invoice::parse(&with_dummy_signature(
        "lnbc",
        body(&[desc("x"), field(TAG_X, &[15; 12])]),
        0,
    ))
    .unwrap();
    let x = (0..12).fold(0u64, |a, _| a << 5 | 15);
    assert_eq!(inv.expiry_secs(), x);
    assert_eq!(inv.expires_at(), TS + x);
    assert!(!inv.is_expired(TS + x - 1) && inv.is_expired(u64::MAX));
}

// ---- Property tests ----

use bech32::primitives::iter::Fe32IterExt;
use bech32::{Fe32, Hrp};
use moneysocket_core::bech::Bech32Long;

/// Bech32-encodes 5-bit groups under `hrp` with a valid checksum.
fn encode_groups(hrp: &str, groups: &[u8]) -> String {
    let hrp = Hrp::parse(hrp).unwrap();
    groups
        .iter()
        .map(|&g| Fe32::try_from(g & 31).unwrap())
        .with_checksum::<Bech32Long>(&hrp)
        .chars()
        .collect()
}

/// Data groups of a structurally plausible invoice: timestamp, random tagged fields (known
/// tags, right and wrong lengths), 104 signature groups.
fn plausible_groups() -> impl Strategy<Value = Vec<u8>> {
    let field = (
        prop::sample::select(vec![1u8, 16, 13, 23, 27, 19, 6, 24, 9, 3, 5, 0, 31]),
        prop_oneof![Just(52usize), Just(53), 0usize..70, 0usize..1024],
        any::<u8>(),
    );
    (
        prop::collection::vec(0u8..32, 7),
        prop::collection::vec(field, 0..8),
        prop::collection::vec(0u8..32, 95..110),
        any::<u64>(),
    )
        .prop_map(|(ts, fields, sig, seed)| {
            let mut g = ts;
            let mut x = seed;
            for (tag, len, fill) in fields {
                g.push(tag);
                g.push((len >> 5) as u8 & 31);
                g.push(len as u8 & 31);
                for _ in 0..len {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    g.push(if fill < 128 { (x >> 59) as u8 } else { 0 });
                }
            }
            g.extend(sig);
            g
        })
}

fn hrp_strategy() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "lnbc", "lntb", "lntbs", "lnbcrt", "lnsb", "lnxx", "bc",
        ]),
        prop::option::of("[0-9]{0,25}[munpx]?"),
    )
        .prop_map(|(p, a)| format!("{p}{}", a.unwrap_or_default()))
}

fn check_no_panic(s: &str) {
    if let Ok(inv) = Invoice::parse(s) {
        if let Description::Direct(d) = inv.description() {
            assert!(d.len() <= 639);
        }
        assert!(inv.recovery_id() <= 3);
        let _ = inv.is_expired(u64::MAX);
        #[cfg(feature = "secp256k1")]
        let _ = inv.recover_payee();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        check_no_panic(&s);
    }

    #[test]
    fn bech32_looking_strings_never_panic(s in "(ln|LN)[a-z0-9]{0,12}1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{0,400}") {
        check_no_panic(&s);
    }

    #[test]
    fn random_checksummed_payloads_never_panic(
        hrp in hrp_strategy(),
        groups in prop::collection::vec(0u8..32, 0..1500),
    ) {
        check_no_panic(&encode_groups(&hrp, &groups));
    }

    #[test]
    fn plausible_invoices_never_panic(hrp in hrp_strategy(), groups in plausible_groups()) {
        check_no_panic(&encode_groups(&hrp, &groups));
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..16,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..32), 1..4),
    ) {
        let e = &valid_examples()[which];
        let c = moneysocket_core::bech::Checked::new(e.invoice).unwrap();
        let hrp: String = c.hrp().lowercase_char_iter().collect();
        let mut groups: Vec<u8> = c.groups().collect();
        for (i, g) in edits {
            let i = i.index(groups.len());
            groups[i] = g;
        }
        check_no_panic(&encode_groups(&hrp, &groups));
    }

    #[test]
    fn amount_round_trip(msat in 1u64..) {
        let mut s = String::new();
        write_amount(&mut s, NonZeroU64::new(msat).unwrap()).unwrap();
        prop_assert_eq!(parse_amount(&s), Ok(msat));
    }

    #[test]
    fn amount_parse_then_write_is_canonical(s in "[1-9][0-9]{0,20}[munp]?") {
        if let Ok(msat) = parse_amount(&s) {
            if let Some(nz) = NonZeroU64::new(msat) {
                let mut w = String::new();
                write_amount(&mut w, nz).unwrap();
                prop_assert_eq!(parse_amount(&w), Ok(msat));
                prop_assert!(w.len() <= s.len() + 1);
            }
        }
    }
}

// ---- Writer ----

mod writer {
    use super::*;
    use moneysocket_core::bolt11::{DescriptionRef, UnsignedInvoice, DEFAULT_FEATURES};

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    /// The writer's fields for a parsed invoice without `n`.
    fn fields_of<'a>(inv: &'a Invoice, features: &'a [usize]) -> UnsignedInvoice<'a> {
        UnsignedInvoice {
            network: inv.network(),
            amount_msat: inv.amount_msat().and_then(NonZeroU64::new),
            timestamp: inv.timestamp(),
            payment_hash: *inv.payment_hash(),
            payment_secret: *inv.payment_secret(),
            description: match inv.description() {
                Description::Direct(d) => DescriptionRef::Direct(d.as_str()),
                Description::Hash(h) => DescriptionRef::Hash(h),
            },
            payee_node_id: inv.payee_node_id().copied(),
            expiry_secs: (inv.expiry_secs() != 3600).then_some(inv.expiry_secs()),
            min_final_cltv_expiry_delta: (inv.min_final_cltv_expiry_delta() != 18)
                .then_some(inv.min_final_cltv_expiry_delta()),
            features,
        }
    }

    /// The specification's examples whose fields come in the writer's order (`s`, `p`, `d`
    /// or `h`, `x`, `9`) are reproduced byte for byte, given their signatures.
    #[test]
    fn reproduces_specification_examples() {
        for example in [DONATION, COFFEE, NONSENSE, HASHED, HIGH_S_RECOVERY] {
            let inv = Invoice::parse(example).unwrap();
            let bits: Vec<usize> = inv.features().iter_set().collect();
            assert_eq!(bits, DEFAULT_FEATURES);
            let fields = fields_of(&inv, &DEFAULT_FEATURES);
            assert_eq!(&fields.signing_hash().unwrap(), inv.signing_hash());
            let out = fields
                .to_signed_string(|hash| {
                    assert_eq!(hash, inv.signing_hash());
                    (*inv.signature(), inv.recovery_id())
                })
                .unwrap();
            assert_eq!(out, example);
        }
    }

    fn round_trip(fields: &UnsignedInvoice<'_>) -> Invoice {
        let s = fields.to_signed_string(|_| ([0x42; 64], 3)).unwrap();
        let inv = Invoice::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(inv.network(), fields.network);
        assert_eq!(inv.amount_msat(), fields.amount_msat.map(NonZeroU64::get));
        assert_eq!(inv.timestamp(), fields.timestamp);
        assert_eq!(inv.payment_hash(), &fields.payment_hash);
        assert_eq!(inv.payment_secret(), &fields.payment_secret);
        match (inv.description(), fields.description) {
            (Description::Direct(d), DescriptionRef::Direct(want)) => assert_eq!(d, want),
            (Description::Hash(h), DescriptionRef::Hash(want)) => assert_eq!(h, want),
            (got, want) => panic!("description {got:?}, want {want:?}"),
        }
        assert_eq!(inv.payee_node_id(), fields.payee_node_id.as_ref());
        assert_eq!(inv.expiry_secs(), fields.expiry_secs.unwrap_or(3600));
        assert_eq!(inv.expires_at(), fields.expires_at());
        assert_eq!(
            inv.min_final_cltv_expiry_delta(),
            fields.min_final_cltv_expiry_delta.unwrap_or(18)
        );
        let mut want: Vec<usize> = fields.features.to_vec();
        want.sort_unstable();
        want.dedup();
        assert_eq!(inv.features().iter_set().collect::<Vec<_>>(), want);
        assert_eq!(inv.signature(), &[0x42; 64]);
        assert_eq!(inv.recovery_id(), 3);
        assert_eq!(inv.signing_hash(), &fields.signing_hash().unwrap());
        inv
    }

    #[test]
    fn amounts_at_the_edges() {
        let mut fields = UnsignedInvoice::new(
            Network::Regtest,
            TS,
            arr(HASH),
            arr(SECRET),
            DescriptionRef::Direct("edge"),
        );
        for (msat, hrp) in [
            (1u64, "lnbcrt10p1"),
            (9, "lnbcrt90p1"),
            (10, "lnbcrt100p1"),
            (99, "lnbcrt990p1"),
            (100, "lnbcrt1n1"),
            (1_000, "lnbcrt10n1"),
            (100_000, "lnbcrt1u1"),
            (100_000_000, "lnbcrt1m1"),
            (100_000_000_000, "lnbcrt11"),
            (2_100_000_000_000_000_000, "lnbcrt210000001"),
            (u64::MAX, "lnbcrt184467440737095516150p1"),
        ] {
            fields.amount_msat = NonZeroU64::new(msat);
            let s = fields.to_signed_string(|_| ([1; 64], 0)).unwrap();
            assert!(s.starts_with(hrp), "{msat}: {s}");
            assert_eq!(round_trip(&fields).amount_msat(), Some(msat));
        }
        fields.amount_msat = None;
        let s = fields.to_signed_string(|_| ([1; 64], 0)).unwrap();
        assert!(s.starts_with("lnbcrt1"));
        assert_eq!(round_trip(&fields).amount_msat(), None);
    }

    #[test]
    fn every_field_round_trips() {
        let cake_hash: [u8; 32] = arr(CAKE_HASH);
        let mut fields = UnsignedInvoice {
            network: Network::Signet,
            amount_msat: NonZeroU64::new(123_456_789),
            timestamp: (1 << 35) - 1,
            payment_hash: arr(HASH),
            payment_secret: arr(SECRET),
            description: DescriptionRef::Hash(&cake_hash),
            payee_node_id: Some(arr(PAYEE)),
            expiry_secs: Some(u64::MAX),
            min_final_cltv_expiry_delta: Some(0),
            features: &[17, 8, 14, 8, 99, 49],
        };
        let inv = round_trip(&fields);
        assert!(inv.description_matches(CAKE.as_bytes()));
        let longest = "ü".repeat(319) + "x";
        fields.description = DescriptionRef::Direct(&longest);
        fields.payee_node_id = None;
        fields.features = &[];
        fields.expiry_secs = Some(0);
        fields.min_final_cltv_expiry_delta = None;
        for network in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Signet,
            Network::Regtest,
            Network::Simnet,
        ] {
            fields.network = network;
            round_trip(&fields);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_fields_round_trip(
            network in prop::sample::select(vec![
                Network::Bitcoin, Network::Testnet, Network::Signet, Network::Regtest, Network::Simnet,
            ]),
            amount in prop::option::of(1u64..),
            timestamp in 0u64..(1 << 35),
            hash in any::<[u8; 32]>(),
            secret in any::<[u8; 32]>(),
            text in prop::option::of("\\PC{0,150}"),
            expiry in prop::option::of(any::<u64>()),
            cltv in prop::option::of(any::<u64>()),
            odd in prop::collection::vec((0usize..300).prop_map(|b| b | 1), 0..4),
        ) {
            let mut features = DEFAULT_FEATURES.to_vec();
            features.extend(odd);
            let text = text.map(|t| t.chars().scan(0, |n, c| {
                *n += c.len_utf8();
                (*n <= 639).then_some(c)
            }).collect::<String>());
            let fields = UnsignedInvoice {
                network,
                amount_msat: amount.and_then(NonZeroU64::new),
                timestamp,
                payment_hash: hash,
                payment_secret: secret,
                description: match &text {
                    Some(t) => DescriptionRef::Direct(t),
                    None => DescriptionRef::Hash(&hash),
                },
                payee_node_id: None,
                expiry_secs: expiry,
                min_final_cltv_expiry_delta: cltv,
                features: &features,
            };
            round_trip(&fields);
        }
    }

    /// Signed with the specification's example key: the payee recovers to its public key,
    /// with or without an `n` field, and libsecp256k1's deterministic (RFC 6979) signature
    /// reproduces the examples exactly.
    #[cfg(feature = "secp256k1")]
    #[test]
    fn signed_with_a_key_recovers_it() {
        use moneysocket_core::bolt11::VerifiedInvoice;
        use secp256k1::{Message, Secp256k1, SecretKey};
        let mut buf = vec![secp256k1::ffi::types::AlignedType::zeroed(); 64];
        let secp = Secp256k1::preallocated_signing_only(&mut buf).unwrap();
        let sk = SecretKey::from_slice(&hex(
            "e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734",
        ))
        .unwrap();
        let sign = |hash: &[u8; 32]| {
            let sig = secp.sign_ecdsa_recoverable(&Message::from_digest(*hash), &sk);
            let (id, rs) = sig.serialize_compact();
            (rs, id.to_i32() as u8)
        };
        for example in [DONATION, COFFEE, NONSENSE, HASHED] {
            let inv = Invoice::parse(example).unwrap();
            let out = fields_of(&inv, &DEFAULT_FEATURES)
                .to_signed_string(sign)
                .unwrap();
            assert_eq!(out, example);
        }
        let mut fields = UnsignedInvoice::new(
            Network::Regtest,
            TS,
            arr(HASH),
            arr(SECRET),
            DescriptionRef::Direct("tea"),
        );
        fields.amount_msat = NonZeroU64::new(1);
        let v = VerifiedInvoice::parse(&fields.to_signed_string(sign).unwrap()).unwrap();
        assert_eq!(&v.payee_pubkey()[..], &hex(PAYEE)[..]);
        fields.payee_node_id = Some(arr(PAYEE));
        let v = VerifiedInvoice::parse(&fields.to_signed_string(sign).unwrap()).unwrap();
        assert_eq!(&v.payee_pubkey()[..], &hex(PAYEE)[..]);
        assert_eq!(v.payee_node_id(), Some(v.payee_pubkey()));
    }
}

/// The light reader finds the hash the full one finds, and refuses what has none.
#[test]
fn light_payment_hash_reader_agrees() {
    for e in valid_examples() {
        let inv = Invoice::parse(e.invoice).unwrap();
        assert_eq!(
            payment_hash(e.invoice),
            Ok(*inv.payment_hash()),
            "{}",
            e.invoice
        );
    }
    assert!(matches!(
        payment_hash(BAD_CHECKSUM),
        Err(Bolt11Error::Bech32(_))
    ));
    assert!(payment_hash(BAD_TOO_SHORT).is_err());
}
