"""Scam detector: co-occurring cues, spans named by their cues, and look-alikes that are not scams."""
from __future__ import annotations

import pytest

from moderation import CheckContext, Moderator, normalize
from moderation.detectors.scam import (
    CUES, RULES, SCAM_PATTERNS, ScamDetector, evaluate, find_cues, group_cues, rate_amount,
)
from moderation.types import PATTERN_CATEGORY

DET = ScamDetector()


def hits(text: str):
    out = DET.find(normalize(text), CheckContext())
    for h in out:
        assert text[h.start:h.end] == h.text
        assert h.pattern in PATTERN_CATEGORY and h.category == PATTERN_CATEGORY[h.pattern]
        assert h.rule.startswith("scam.") and h.detail
    return out


# (text, rule, expected span text, cue words the detail must name)
POSITIVES = [
    ("这个平台稳赚不赔，我带你一起投资", "scam.investment.platform_promise", "稳赚不赔，我带你一起投资", ("投资", "稳赚")),
    ("导师带单，跟着我操作，收益翻倍", "scam.investment.hot_lure", "带单，跟着我操作，收益", ("带单", "收益")),
    ("我的导师有内幕，收益很高", "scam.investment.insider", "导师有内幕，收益", ("导师", "收益")),
    ("我有内部消息，这只股票下周涨停", "scam.investment.insider", "内部消息，这只股票下周涨停", ("内部消息", "涨停")),
    ("USDT合约，保本高收益，私我", "scam.investment.platform_promise", "USDT合约，保本高收益", ("usdt", "保本")),
    ("靠谱富叶，有来的吗，包教包会", "scam.investment.teacher", "富叶，有来的吗，包教包会", ("副业", "包教包会")),
    ("我舅舅在证券公司，有内部消息", "scam.investment.insider", "证券公司，有内部消息", ("内部消息", "证券")),
    ("你先充值500，到账后收益会翻倍的", "scam.investment.deposit_promise", "充值500，到账后收益会翻倍", ("充值", "翻倍")),
    ("亲爱的，我在海关有个包裹需要交关税才能寄给你", "scam.money_request.relationship_fee", "亲爱的，我在海关有个包裹需要交关税", ("亲爱的", "关税")),
    ("我是维和军人，现在回不了国，需要你帮我付一下机票钱", "scam.money_request.urgent_transfer", "回不了国，需要你帮我付", ("帮我付", "回不了国")),
    ("宝贝，我妈住院了，急需五千块，你先转给我好不好", "scam.money_request.urgent_transfer", "住院了，急需五千块，你先转给我", ("住院",)),
    ("亲爱的，能不能借我点钱，下个月还你", "scam.money_request.relationship_transfer", "亲爱的，能不能借我点钱", ("亲爱的", "借我", "点钱")),
    ("亲爱的，我卡被冻结了，急用钱，帮我充一张京东卡", "scam.money_request.urgent_transfer", "被冻结了，急用钱，帮我充一张京东卡", ("帮我充",)),
    ("提现需要先交保证金才能解冻", "scam.money_request.advance_fee", "提现需要先交保证金才能解冻", ("保证金", "提现")),
    ("无抵押贷款，当天放款，不看征信", "scam.money_request.loan_offer", "无抵押贷款，当天放款，不看征信", ("无抵押",)),
    ("学生妹上门服务，包夜1500", "scam.escort.service", "学生妹上门服务，包夜1500", ("学生妹", "包夜1500")),
    ("会所新来一批美女，激情服务，来电", "scam.escort.venue", "会所新来一批美女，激情服务", ("会所", "美女", "激情")),
    ("美女一次800，包夜2000", "scam.escort.service", "一次800，包夜2000", ("包夜",)),
    ("兼职妹妹上门服务请加微信", "scam.escort.service", "兼职妹妹上门服务", ("兼职妹",)),
    ("兼职刷单，日结，一单50", "scam.part_time_job.task_pay", "刷单，日结", ("刷单", "日结")),
    ("带人赚钱，1小时700", "scam.part_time_job.easy_money", "带人赚钱，1小时700", ("带人", "1小时700")),
    ("有谁想赚钱，一个小时500", "scam.part_time_job.easy_money", "谁想赚钱，一个小时500", ("谁想",)),
    ("抖音代发一单40", "scam.part_time_job.task_pay", "代发一单40", ("代发",)),
    ("宝妈兼职，在家就能做，日入300+", "scam.part_time_job.task_pay", "在家就能做，日入300", ("在家就能做",)),
    ("全程免费，不收费，轻松月入过万", "scam.part_time_job.come_rate", "全程免费，不收费，轻松月入过万", ("全程免费",)),
    ("来吧一个小时600不需要任何费用", "scam.part_time_job.come_rate", "来吧一个小时600", ("一个小时600",)),
    ("股票配资，杠杆10倍，有需要的加我", "scam.investment.hot_lure", "配资，杠杆10倍，有需要的加我", ("配资", "加我")),
    ("恭喜您中奖了，请点击链接领取", "scam.phishing.prize", "恭喜您中奖了，请点击链接", ("恭喜您", "点击")),
    ("尊敬的建行客户您的积分可兑换现金请登陆我行手机官网兑换", "scam.phishing.prize", "积分可兑换现金请登陆我行手机官网兑换", ("积分",)),
    ("您的账户异常已被冻结，请登录网址联系银行客服", "scam.phishing.account", "异常已被冻结，请登录网址联系银行客服", ("异常", "银行")),
    ("我表姐开了个茶叶店，见面带你去买茶", "scam.romance_lure.venue", "茶叶店，见面带你去买茶", ("茶叶店", "见面")),
    ("婚介所红娘保证包你找到对象，先交会员费", "scam.romance_lure.matchmaker", "婚介所红娘保证包你找到对象，先交会员费", ("婚介", "会员费")),
]


@pytest.mark.parametrize("text,rule,span,cues", POSITIVES, ids=[p[0] for p in POSITIVES])
def test_positive_spans(text, rule, span, cues):
    got = {h.rule: h for h in hits(text)}
    assert rule in got, sorted(got)
    h = got[rule]
    assert h.text == span
    for c in cues:
        assert c in h.detail


def test_homophone_is_named_in_via():
    h = [x for x in hits("靠谱富叶，有来的吗，包教包会") if x.pattern == "investment"][0]
    assert "homophone" in h.via


def test_homophone_that_is_a_real_word_is_not_a_cue():
    # 拳套 sounds like 全套 but is boxing gloves.
    assert hits("他送了我一副拳套，价格800，一次就坏了") == []


NEGATIVES = [
    "提醒：凡是让你投资、转账的网友都是骗子",
    "我买了点基金，亏了一点",
    "我今天去医院看病了，好累",
    "妈妈给我转了学费",
    "我在酒店上班，做前台",
    "我是做理财的，在银行工作",
    "最近股票跌得厉害，心情不好",
    "平台上认识的人要谨慎，不要借钱给陌生人",
    "我哥哥住院了，家里人都很着急",
    "下个月发工资了请你吃饭",
    "我们公司在招人，有兴趣可以投简历",
    "周末去按摩放松一下",
    "这家酒店的服务很好，环境也不错",
    "兼职做家教，一小时200",
    "我男朋友借了我五千块还没还",
    "恭喜你获得了优秀员工",
    "请点击下方链接查看活动详情",
    "我老婆在医院，明天手术",
    "亲爱的，生日快乐，给你发了红包",
    "警惕杀猪盘：网恋对象让你在平台投资稳赚不赔的，都是骗子",
    "我爸炒股二十年，从来没赚过钱",
    "他说跟着导师能赚钱，我觉得是骗局",
    "你收益怎么样？我这个月基金回报还行",
    "我们去酒吧喝一杯吧",
    "婚介所的会员费太贵了",
    "我表姐开了个茶叶店，生意不错",
    "学生党求推荐兼职",
    "宝贝我想你了",
    "医生说要马上住院",
    "今天赚了一点小钱，请大家喝奶茶",
    "我在一家互联网公司做产品经理，年薪30万",
    "彩票中了5块钱哈哈",
    "老师说明天交作业",
    "你能借我一支笔吗",
    "这个app挺好用的，推荐给你",
    "我是护士，平时工作很忙",
    "晚上一起去KTV唱歌吧",
    "我想赚钱买房，所以很努力工作",
    "有意思，你也喜欢爬山",
    "淘宝买的衣服退款了，客服很快",
    "我的导师让我周末改论文",
    "我们要结婚了，在看房子",
    "你每天工作几个小时？我一天8小时",
    "我一个月工资八千，够花",
    "昨天去KTV花了500块，太贵了",
    "抖音上看到一个好笑的视频",
    "我是小白，刚开始学做饭",
    "银行提醒：不要点击陌生链接，谨防诈骗",
    "防骗指南：刷单都是诈骗，不要相信日结高薪",
    "在家办公，时间比较自由",
    "这家店的全套服务包括洗剪吹",
    "他在医院，我急着赶过去，你先别转钱",
    "我哥在做区块链项目，天天加班",
    "注册了一个新账号",
    "亲爱的，运费我来付",
    "给我100分",
    "我在国外读书，下个月回国",
    "下载了一个新游戏，挺好玩",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives(text):
    assert hits(text) == []


def test_enough_negatives():
    assert len(NEGATIVES) >= 40


def test_single_cue_never_fires():
    # Every rule needs at least two groups, so no single word can decide.
    assert all(len(needs) >= 2 for _, _, _, needs in RULES)
    for words in CUES.values():
        for w in words[:5]:
            assert hits(w) == [], w


def test_rule_patterns_are_known():
    assert {p for p, _, _, _ in RULES} <= set(PATTERN_CATEGORY)
    assert {"investment", "money_request", "escort"} <= SCAM_PATTERNS


def test_cues_far_apart_do_not_combine():
    filler = "今天天气很好我们去公园散步看花聊天" * 4
    assert hits("平台" + filler + "稳赚") == []
    assert [h.rule for h in hits("平台稳赚" + filler)] == ["scam.investment.platform_promise"]


@pytest.mark.parametrize("amt,value", [("3000", 3000), ("三四百", 300), ("5w", 50000), ("200", 200), ("两三千", 2000), ("34位数", 1000)])
def test_rate_amount(amt, value):
    assert rate_amount(amt) == value


def test_evaluate_pools_groups():
    doc = normalize("导师")
    cues = find_cues(doc)
    assert evaluate(group_cues(cues)) == []


@pytest.fixture(scope="module")
def moderator():
    return Moderator()


def test_through_moderator_blocks_profile_investment(moderator):
    v = moderator.check("这个平台稳赚不赔，我带你一起投资", scene="profile")
    assert v.decision == "block"
    assert "investment" in v.patterns and "fraud" in v.categories
    assert any(h.rule == "scam.investment.platform_promise" for h in v.hits)


def test_through_moderator_escort_is_porn(moderator):
    v = moderator.check("学生妹上门服务，包夜1500", scene="chat")
    h = [x for x in v.hits if x.rule == "scam.escort.service"][0]
    assert h.category == "porn" and h.pattern == "escort"
    assert v.decision == "block"


def test_through_moderator_warning_passes(moderator):
    v = moderator.check("提醒：凡是让你投资、转账的网友都是骗子", scene="post")
    assert not any(h.rule.startswith("scam.") for h in v.hits)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_WORDS = st.sampled_from(
    ["平台", "稳赚", "投资", "导师", "带单", "宝贝", "住院", "转给我", "借我", "保证金", "提现", "学生妹",
     "包夜", "500", "一小时", "700", "刷单", "日结", "中奖", "点击", "链接", "，", "的", "我", "你好", "提醒", "骗子"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=12).map("".join))
def test_any_mix_gives_valid_spans(text):
    for h in hits(text):
        assert 0 <= h.start < h.end <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_unicode_never_crashes(text):
    hits(text)


_SHAPE_WORDS = st.sampled_from(
    ["每天", "一小时", "日结", "300", "3000", "5w", "500元", "有意者", "私我", "感兴趣的加", "来", "收益",
     "回报率", "20%", "翻倍", "做", "今天", "加班到", "3点", "的", "我", "兼职", "月入过万", "，"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_SHAPE_WORDS, max_size=10).map("".join))
def test_short_circuit_shapes_find_the_same_scams(text):
    """A message judged alone tries fewer shapes; it must reach the same rules as all of them."""
    from moderation.detectors.scam import evaluate, find_cues, group_cues
    from moderation.normalize import normalize

    doc = normalize(text)
    full = {(m.pattern, m.rule) for m in evaluate(group_cues(find_cues(doc)))}
    short = {(m.pattern, m.rule) for m in evaluate(group_cues(find_cues(doc, pooled=False)))}
    assert short == full
