"""Scam scripts decided from co-occurring cues, never from one common word.

Cue words are grouped (``invest``, ``promise``, ``transfer``, ``urgency``, ``task`` …); a rule
fires when the text holds a cue from each of its groups within ``WINDOW`` characters, e.g. an
investment word *and* a promise of returns, or a transfer *and* urgency. The hit spans the cues
it used, its rule names the combination (``scam.investment.platform_promise``) and its detail
names the cue words.

Cues come from one Aho–Corasick scan of ``doc.canon``: a match counts when ``doc.text`` holds the
cue literally, or, for the disguisable cues in ``SOUND_OK``, a homophone that is not itself a
common word (富叶 reads as 副业; 拳套 is not 全套). A few cues are shapes rather than words
(一小时500, 日入3000, 500一次) and come from regexes on ``doc.text``, tried only when a rule could
still fire. Warnings about scams (谨防…, 都是骗子) and about gambling (远离赌博, 网赌害人) turn the
scam rules off for that text.

Gambling (pattern ``gambling``, category ``illegal``) follows the same scheme: a game or platform
(百家乐, 时时彩, 棋牌室; ordinary words such as 彩票, 麻将, 足球 only with a lure only gambling uses)
with a lure or a way in (首存送, 返水, 存100送100, 必中, 红单, 1毛一分, contact details). A gambling
cue said in the negative (不玩彩票, 从不打牌, 不可能必中) does not count.

``find_cues``, ``group_cues`` and ``evaluate`` are public so the conversation detector
(``ConversationDetector``, below) can pool the cue groups of several messages of one sender.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

from ..conversation import TAIL_CHARS, Message
from ..matcher import build_matcher
from ..normalize import BATCH_SEP, HAN_RE, NOISE_RE, REPEAT_RE, VIA_ORDER, default_normalizer
from ..types import PATTERN_CATEGORY, SEVERITY_RANK, Hit
from ..segment import word_freq
from .contact import find_contacts, via_for
from .contact import to_hit as contact_hit

if TYPE_CHECKING:
    from ..normalize import NormalizedText
    from .base import CheckContext

# -- cue groups (our own curation) -------------------------------------------------------------

CUES: dict[str, tuple[str, ...]] = {
    "invest": (
        "投资", "理财", "炒股", "股票", "期货", "外汇", "黄金", "原油", "基金", "数字货币", "虚拟币",
        "币圈", "挖矿", "矿机", "usdt", "比特币", "btc", "以太坊", "合约", "杠杆", "区块链",
        "彩票", "时时彩", "幸运飞艇", "北京赛车", "快三", "六合彩", "博彩", "下注", "投注", "百家乐",
        "副业", "裂变", "撬动", "资金盘", "实盘", "短线", "长线", "打金", "股民", "数字藏品", "好票", "票友", "配资", "股市杠杆", "杠杆",
        "副项目", "项业", "搬砖项目", "赛道", "跟投", "收米", "打米",
    ),
    # Investment words that, with any call to get in touch, are already a lure.
    "invest_hot": (
        "配资", "杠杆", "实盘", "带单", "跟单", "喊单", "usdt", "币安", "资金盘", "盘口", "打金",
        "新平台", "内部盘", "荐股", "股票群", "牛股",
    ),
    "platform": (
        "平台", "app", "软件", "网站", "后台", "交易所", "官网", "盘口", "内部群", "带单群", "群里",
    ),
    # Promises: what nobody honest says about an investment.
    "promise": (
        "稳赚", "包赚", "稳赢", "保本", "保赚", "零风险", "无风险", "没风险", "不亏", "稳定收益",
        "高收益", "高回报", "翻倍", "翻番", "日赚", "日入", "日收益", "躺赚", "回本", "百分百",
        "一本万利", "财务自由", "暴富", "赚大钱", "先盈后付", "盈亏共担", "上不封顶", "稳如磐石",
        "保底", "零风险", "0风险", "零成本", "0成本", "0投入", "零投入", "躺着赚", "七位数", "六位数", "单日收入", "日收入",
        "月收入过万", "月入过万", "周薪过万", "稳赚不赔", "只赚不赔", "包回本", "必赚", "带你赚",
        "必涨", "每天必涨", "公布牛股", "公布涨停", "抓涨停", "不涨退款", "不出涨停", "获利不低于",
        "没亏过", "从来没亏", "从没亏过", "稳赚不亏",
    ),
    # Gains: ordinary words about money made; a scam only with a recruiter, a teacher or a rate.
    "gain": (
        "收益", "回报", "盈利", "赚钱", "挣钱", "利润", "财富", "分红", "返利", "收益率", "上岸",
        "发财", "赚米", "月入", "月赚", "挣米", "收米", "撰米", "搞米", "拿米", "提米", "搞钱", "变现",
        "捡钱", "撸米", "赚筷", "白鹿", "挣点钱", "赚点钱", "撸赚", "米花",
        "赚美金", "赚美元", "赚外快", "零花钱", "赚了",
    ),
    "teacher": (
        "导师", "老师带", "带单", "跟单", "喊单", "分析师", "操盘手", "操盘", "内幕", "内部消息",
        "内部渠道", "漏洞", "规律", "计划员", "带你", "跟着我", "教你", "包教包会", "一对一", "带飞",
        "内部数据", "跟着操作", "跟着他操作", "跟我操作",
    ),
    "insider": (
        "导师", "带单", "跟单", "喊单", "分析师", "操盘手", "内幕", "内部消息", "内部渠道", "漏洞",
        "计划员", "老师带", "带单老师",
        "内部数据", "内部资料",
    ),
    # Prices kept for a private chat: with a girl or a service named, an escort's ad.
    "price": ("价格私聊", "价格私信", "价格详聊", "价钱私聊", "价格面议"),
    "deposit": ("充值", "入金", "出金", "本金", "充钱", "入款", "开户", "注册", "下载",
        "充点", "充个"),
    "stock": ("证券", "券商", "行情", "涨停", "牛股", "金股", "荐股", "抄底", "拉升", "主力", "股票群", "炒股群",
              "妖股", "股民", "股友", "涨停板", "建仓", "炒股"),
    "relation": (
        "宝贝", "亲爱的", "老公", "老婆", "媳妇", "男朋友", "女朋友", "我们的未来", "结婚",
        "在一起", "想你", "爱你", "爱我", "未来的家", "我们俩", "咱俩",
    ),
    "urgency": (
        "很急", "好急", "急事", "着急", "急用", "急需", "救急", "马上", "立刻", "赶紧", "今天之内", "医院", "住院",
        "手术", "车祸", "出事", "被抓", "欠债", "催债", "周转", "生病", "病了", "救命", "求求你",
        "走投无路", "卡住了", "被冻结", "过不去", "燃眉之急", "回不了国", "被困", "被扣留", "应急",
        "被扣了", "输光了", "快点打", "赶快打",
    ),
    "transfer": (
        "转账", "转给我", "转我", "打钱", "打款给我", "汇款", "借我", "借点", "借钱", "借给我",
        "发红包", "发个红包", "给我红包", "礼物卡", "礼品卡", "充值卡", "购物卡", "游戏卡", "点卡",
        "京东卡", "itunes", "给我转", "帮我付", "帮我交", "帮我充", "垫付", "凑点钱", "凑钱",
        "打点钱", "转点钱", "先转", "帮我垫", "借我点",
    ),
    # Money named: a transfer between lovers is a request only when money is in it.
    "money": (
        "点钱", "些钱", "的钱", "块钱", "万块", "千块", "百块", "红包", "生活费", "路费", "学费",
        "医药费", "机票钱", "车费", "手术费", "礼物卡", "礼品卡", "充值卡", "购物卡", "京东卡",
        "转账", "打钱", "汇款", "借钱",
        "点卡", "游戏卡", "话费", "房租", "车票钱", "饭钱",
    ),
    # A transfer asked of the reader (not one told about): with an amount, a request.
    "ask": (
        "转我", "转给我", "借我", "借给我", "给我红包", "给我转", "帮我付", "帮我交", "帮我充", "帮我垫",
        "借我点", "发个红包", "发红包给我", "打钱给我", "打款给我", "给我打钱", "给我打点",
    ),
    # A promise to pay a loan back: with a transfer asked for and money named, a request.
    "repay": (
        "还你", "还给你", "回头还", "下次还", "到时候还", "马上还", "发工资还", "发了工资还", "一定还",
        "双倍还", "加倍还", "过几天还", "明天还", "就还", "立马还",
    ),
    "fee": (
        "手续费", "解冻费", "保证金", "押金", "激活费", "会员费", "服务费", "工本费", "税费",
        "认证费", "刷流水", "验资", "关税", "清关费", "清关", "订金", "定金", "包装费", "材料费",
        "申请费", "保释金", "审核费", "公证费", "认证金", "转账费",
    ),
    "unlock": ("提现", "解冻", "放款", "到账", "出款", "激活", "领取", "下款"),
    "loan": (
        "贷款", "借款", "放款", "下款", "网贷", "口子", "额度", "信用卡", "套现", "代还", "无抵押",
        "小额贷", "私人借", "借给你", "空放", "背债", "负债协商", "分期", "贷车", "公积金大额",
        "大额", "借条", "周转",
    ),
    "easy_loan": (
        "无抵押", "无担保", "秒下", "秒批", "当天下款", "当天放款", "小时放款", "不看征信",
        "黑户", "低息", "轻松解决", "资金需求", "资金周转", "缺钱", "不查征信", "无需面签",
        "急用钱", "借多少", "下卡快", "快速放款", "白户", "大花户", "秒票", "当天拿钱", "什么都不看",
        "利息低", "低利息", "需要就加我", "先息后本", "上征信", "无任何前期", "没有前期", "前期无",
        "不收前期", "无任何费用",
        "黑白户", "有水", "芝麻分",
    ),
    "sex_strong": (
        "包夜", "全套", "一条龙", "约炮", "援交", "楼凤", "外围女", "外围", "特殊服务", "大保健",
        "莞式", "陪睡", "一夜情", "裸聊", "上门服务", "性服务", "兼职妹", "学生妹", "嫩模",
        "快餐", "过夜", "全活", "半套", "口活", "推油", "丝足", "小姐服务", "找小姐", "包养",
        "同城约", "约吗", "约一次", "可约", "约p", "男人的天堂", "制服诱惑", "制服的诱惑", "莞式服务",
        "性福", "无码", "上门", "陪游", "伴游",
        "男士养生", "男士会所",
    ),
    "girl": (
        "美女", "妹子", "小妹", "学生妹", "少妇", "模特", "空姐", "护士", "小姐", "技师", "熟女",
        "萝莉", "御姐", "兼职妹", "嫩模", "白领", "人妻", "女大学生", "靓女", "女公关", "男模",
        "洋妞",
    ),
    "venue_sex": ("会所", "酒店", "宾馆", "桑拿", "足浴", "按摩", "休闲馆", "松闲馆", "spa", "养生会馆", "夜总会"),
    "service": ("服务", "享受", "伺候", "满意", "激情", "诱惑", "放松", "开心"),
    # Tasks of 刷单 and click-farm jobs.
    "task": (
        "刷单", "做单", "接单", "抢单", "返佣", "返现", "点赞员", "点赞任务", "做任务", "小任务",
        "任务单", "打字员", "手工活", "好评返现", "刷好评", "代发", "补单", "刷粉", "刷赞", "发帖任务",
        "代学", "打码", "挂机", "出评",
        "手机就能做", "在家就能做", "有手机就行", "一部手机", "足不出户", "工作室", "垫付",
        "发文", "评论员", "涨粉", "真人粉丝", "活粉", "代刷", "精刷", "刷子",
        "抄小说", "文字录入", "补单主持", "寄拍", "推广员", "发布员", "拉人头", "看广告", "薅羊毛",
        "一单一结", "做一条结一条", "刷视频", "发种草", "代充",
        "放单", "小说推文", "发笔记", "发图文", "发作品", "有效粉", "改销量", "刷销量", "刷票", "打字聊天", "拉新", "代写", "刷网课",
        "两部手机", "两个手机", "两台手机", "两个设备", "两部设备", "有卡就行", "有卡的来",
        "发广告", "微信加人", "话术单", "拉人进群",
    ),
    # Apps whose reviews, followers and posts click farms sell.
    "social_app": (
        "抖音", "快手", "小红书", "淘宝", "闲鱼", "拼多多", "dy", "ks", "视频号", "微博", "b站",
        "学习通", "美团", "大众点评", "斗音", "斗茵", "抖阴", "小红薯", "红薯", "块手", "xhs",
        "西瓜视频", "豆瓣",
    ),
    # Ordinary words for what click farms sell; only with an app, and pay or a call to join.
    "task_weak": ("点赞", "发帖", "好评", "发视频", "发作品", "评论", "涨粉", "关注", "转发", "浏览"),
    "job": (
        "兼职", "副业", "时间自由", "零基础", "小白", "宝妈", "学生党", "在家", "住家", "日结",
        "线上兼职", "网上兼职", "居家", "打字员", "聊天员", "空闲时间", "不限时间", "胆大心细", "路子野",
    ),
    "pay": ("日结", "秒结", "当天结", "佣金", "提成", "结算", "工资日结", "下课秒结", "做完打款", "现结",
            "立结", "一单一结", "做完就结", "有偿", "日薪", "时薪", "按单结"),
    "recruit": (
        "招人", "招聘", "招募", "诚招", "急招", "招收", "招代理", "招学员", "带人", "来人", "有意者", "有意向", "有意的", "有意私", "有意加", "私我", "加我", "找我", "想做", "有没有人", "谁想",
        "有兴趣", "私聊", "滴我", "扣1", "带你", "有来的", "来个人",
        "想做的", "谁要", "找人", "要人", "大量要人", "无限要人", "收人", "可带", "包带", "带上岸",
        "私信我", "私信加", "联系我", "咨询我", "丝我", "诗我", "斯我", "你也试试", "带你一起", "我带你",
        "免费带", "带做", "有想法的", "感兴趣的", "做的来", "要的来",
    ),
    # Weak calls to come along: only with a pay claim.
    "come": (
        "快来", "要的来", "速来", "懂的来", "来吗", "来嘛", "做吗", "做嘛", "做不做", "要吗",
        "加好友", "咨询", "来就做", "来做", "可以来", "做的话", "做的来", "一起做", "来人", "的来",
        "来赚", "带你", "的私",
    ),
    # "No fees": the hook of job and task scams.
    "no_fee": (
        "不收费", "免费带", "不需要任何费用", "无押金", "不要押金", "没有前期费用", "无前期", "零门槛",
        "0门槛", "全程免费", "不收取任何费用", "无需押金", "不收取", "不花一分钱", "无需任何费用",
        "0投资", "零投资", "不用投资", "不需要投资", "无会费",
        "不要本金", "无需本金", "不需要本金", "不要本",
    ),
    "prize": (
        "中奖", "恭喜您", "恭喜你", "抽中", "幸运", "奖品", "奖金", "兑换", "积分", "补贴", "免费领", "赠送", "送出", "大奖", "现金红包", "领奖", "获得了奖", "获得现金",
        "抽选", "今日之星", "幸运观众", "荣誉观众", "获奖用户", "场外",
    ),
    "alert": (
        "冻结", "异常", "过期", "失效", "逾期", "清空", "升级", "停用", "注销", "违规", "影响征信",
        "认证", "验证", "密码器", "身份核实", "退款", "理赔",
        "航班取消", "已被取消", "航班已取消", "已取消", "机械故障", "起落架故障", "退改签", "改签", "延误补偿",
        "提额", "提升额度", "提高额度", "提高信用额度", "补录", "限制使用", "积分已满", "兑换现金", "停卡",
    ),
    "link": (
        "登录", "登陆", "点击", "网址", "链接", "官网", "手机网", "网站", "联系客服",
        "客服电话", "回复", "url",
        "登入", "致电客服", "电客服", "客服专线", "退改专线",
    ),
    "official": (
        "银行", "工行", "建行", "农行", "中行", "招行", "交行", "客服", "官方", "淘宝", "京东",
        "支付宝", "运营商", "移动", "联通", "电信", "快递", "航空", "公安", "法院", "社保", "医保",
        "税务", "apple", "icloud",
        "航班", "旅客", "机票",
    ),
    "lure_venue": (
        "酒吧", "茶馆", "茶庄", "茶叶店", "茶楼", "咖啡厅", "西餐厅", "ktv", "我朋友开的", "我表姐开的",
        "我姐开的", "我家店", "我舅舅开的", "我闺蜜开的", "清吧",
    ),
    "meet": ("见面", "约会", "来找我", "过来", "带你去", "陪我", "一起去", "见一面", "请你"),
    "spend": (
        "买单", "开酒", "点酒", "消费", "办卡", "买茶", "茶叶", "红酒", "洋酒", "最低消费", "开瓶",
        "开一瓶", "套餐", "礼炮",
    ),
    "matchmaker": ("婚介", "红娘", "相亲会员", "婚恋公司", "介绍对象"),
    "mm_promise": ("保证", "包成", "包你", "一定能", "百分百", "包找到", "包脱单", "不成退款"),
    "member_fee": ("会员费", "服务费", "交钱", "费用", "年费", "定金", "充值"),
    # -- gambling (赌博): a game or platform and a lure or a way in. --
    # Games and platforms that are gambling whatever the context.
    "gamble": (
        "时时彩", "六合彩", "百家乐", "真人荷官", "荷官", "娱乐城", "真人视讯",
        "电子游艺", "炸金花", "扎金花", "砸金花", "龙虎斗", "庄闲", "加拿大28", "pc28",
        "幸运28", "幸运飞艇", "北京赛车", "极速赛车", "分分彩", "极速快三", "特码", "港澳彩", "澳门彩",
        "香港马会", "棋牌室", "滚球", "私彩", "菠菜平台", "菠菜网", "玩菠菜", "抢庄", "牌九",
        "二八杠", "推筒子", "冰球突破", "红包扫雷", "扫雷红包", "牛牛红包", "红包接龙", "上下分",
        "老台子", "新台子", "好台子", "彩票平台", "彩票网", "押大小", "大小单双", "德州俱乐部",
        "德扑俱乐部", "棋牌游戏", "棋牌平台", "捕鱼游戏", "体育平台", "线上娱乐",
        "稳台子", "稳定台子", "靠谱台子", "台子稳定", "台子靠谱", "红包斗牛", "自由庄",
        # 六合彩 tips name zodiac signs and numbers: 两肖四码, 平特一肖.
        "一肖", "两肖", "二肖", "三肖", "四肖", "六肖", "平特",
    ),
    # Words for gambling that news, complaints and warnings use too (骚扰电话都是澳门赌场): a lure
    # must come with them, contact details alone do not do.
    "gamble_talk": (
        "博彩", "网赌", "赌场", "赌球", "足彩", "竞彩", "下注", "投注", "押注", "买球", "赔率", "老虎机",
        "赌博平台", "赌博网", "网上赌博", "台子", "老台", "稳定台", "稳台",
    ),
    # Lotteries, card games, sport and Macau: ordinary words until a gambling lure comes with them.
    "lottery": (
        "彩票", "福彩", "体彩", "双色球", "大乐透", "排列三", "排列五", "排三", "七星彩", "3d",
        "刮刮乐", "彩票站", "购彩", "彩民", "数字彩",
    ),
    "cards": (
        "玩牛牛", "打牛牛", "牛牛金花", "金花牛牛", "德州扑克", "德扑", "麻将", "斗地主", "跑得快", "扑克", "棋牌", "金花", "川麻",
        "血战到底", "推倒胡", "掼蛋", "打牌", "玩牌", "斗牛", "三公", "跑的快", "亲友圈",
    ),
    "sport": ("足球", "篮球", "球赛", "赛事", "世界杯", "欧冠", "英超", "西甲", "nba", "电竞", "欧洲杯"),
    "macau": ("澳门", "葡京", "威尼斯人", "新濠", "金沙娱乐", "太阳城"),
    # Money in: not 注册 or 下载, which every app asks for.
    "gdeposit": ("充值", "入金", "入款", "开户", "充钱", "充点", "充个", "出金", "存款"),
    "newbie": ("新人", "新用户", "新会员", "新户", "新注册", "首次注册"),
    "gplatform": ("平台", "官网", "网址", "线上", "开户", "直营", "会员", "vip厅", "娱乐厅"),
    # Lures only gambling uses: deposit bonuses, rebates, wagering terms.
    "bonus": (
        "彩金", "返水", "首存", "存送", "体验金", "打码量", "倍流水", "流水即可", "存款送", "存就送",
        "首存送", "首充送", "开户送", "开户就送", "开户即送",
    ),
    # Lures that are gambling only next to a gambling game (上分 also means ranking up in a game).
    "lure_g": (
        "首充", "首冲", "上分", "下分", "回血", "放水", "大水", "必红", "出款", "提款", "充就送",
        "充值送", "加送", "新户", "首次奖励", "以小博大", "一夜翻身", "注册送", "注册就送", "注册即送", "新人送",
        "反水", "扶持金", "救援金", "新人福利", "优惠活动", "秒到账",
    ),
    # What gambling rooms say to be trusted with money.
    "trust": ("信誉", "诚信经营", "资金安全", "大小都有", "不黑", "秒提", "秒上下", "上下分秒", "提现秒到",
              "很正规", "正规平台", "绝对正规", "安全可靠"),
    # Promises of winning.
    "win": (
        "稳赢", "必中", "包中", "必赢", "包赢", "稳中", "每期都中", "期期中", "期期准", "连红", "稳赚",
        "包赚", "百分百中", "包回本", "胜券在握", "赔率高", "稳赚不赔", "精准",
    ),
    # Promises only betting makes (not 逢考必中).
    "win_bet": ("每期都中", "期期中", "期期准", "赔率高", "连红", "百分百中", "十连红", "稳赢计划"),
    # Tips sold for lotteries and football.
    "tip": (
        "带单", "红单", "推荐方案", "方案推荐", "免费方案", "今日方案", "彩票计划", "计划群", "预测",
        "精选方案", "内部资料", "免费资料", "精准资料", "资料群", "心水", "免费推荐", "每日推荐",
        "精准推荐", "红单推荐", "专家推荐", "赛事分析", "跟单", "喊单", "导师", "老师带",
        "连红", "赛前方案",
    ),
}

# Cues also matched through homophones (the words scammers disguise: 富叶 for 副业).
SOUND_OK = frozenset({
    "副业", "兼职", "刷单", "平台", "投资", "理财", "赚钱", "挣钱", "博彩", "彩票", "约炮", "包夜",
    "一条龙", "上门服务", "援交", "稳赚", "包赚", "日结", "佣金", "返利", "带单", "充值", "提现",
    "保证金", "手续费", "转账", "汇款", "贷款", "网贷", "比特币", "虚拟币", "数字货币", "套现",
    "下注", "楼凤", "大保健", "学生妹", "躺赚", "内幕", "操盘手", "解冻", "一单一结", "挣点钱",
    "赚点钱", "赚米", "抄小说",
    # Gambling words of three characters (two-character homophones cross word boundaries: 饭睡).
    "六合彩", "百家乐", "斗地主", "德州扑克",
})

# Shapes: regexes on doc.text (noise removed), each giving a cue group.
_N = r"[0-9一二三四五六七八九十百千万两]"
_AMT = r"[0-9一二三四五六七八九十两几百千万wk]+(?:[到至][0-9一二三四五六七八九十两几百千万wk]+)?(?:位数|w|k|万|千)?"
_PERIOD = r"(?:一|每|1|半)?个?(?:天|日|小时|钟头|钟|晚上?|月|周|年|单|趟|篇|条|夜)"
_CLAIM = (
    r"(?:兼职|最少|保底|至少|轻松|稳定|就能|就有|就|能|可以|竟能|收入|入|赚|挣|撰|结账|结算|课结|结|净赚|妥妥?|过|收|"
    r"拿|可变现|变现|可|都|有|达|能拿|能赚|平均|起码|少说|搞|玩|出|下)*"
)
# Amounts of a bonus: 100, 一百, 两千, 百.
_BIG = r"(?:[1-9][0-9]{1,4}|[一二两三四五六七八九]?[十百千万][一二两三四五六七八九十百千]*)"
_CARD_GAMES = "麻将|跑得快|跑的快|斗地主|金花|三公|斗牛|牌九|德州扑克|掼蛋|推倒胡|血战到底|川麻"
SHAPES: tuple[tuple[str, str, str], ...] = (
    # (group, regex, label); "rate" amounts are checked by _rate_ok.
    # The lookaheads name each shape's possible first characters: the regex engine then skips
    # other positions at once instead of trying the optional prefixes at each (several times faster).
    ("rate", rf"(?=[一每1半个天日小钟晚月周年单趟篇条夜]){_PERIOD}{_CLAIM}(?P<amt>{_AMT})(?:元|块|米|r)?", "pay per period"),
    ("rate", rf"(?=[0-9一二三四五六七八九十两几百千万wk])(?P<amt>{_AMT})(?:元|块|米|r)?(?:一|每|半)个?(?:小时|天|单|晚|篇|条|个人)", "pay per period"),
    ("rate", rf"(?:月入|日入|月赚|日赚|年入|日结|月收入|日收入)(?:过|好多|轻松|稳定)*(?P<amt>{_AMT}|w|万|千|k)", "income claim"),
    ("come", r"(?:来|做|带|私|加|佳|伽|丝|滴)(?:吗|嘛|啦|呀|的|人)?$|^(?:来|带)", "call to come"),
    ("recruit", r"(?:有意|感兴趣|兴趣|想做|要做|做|需要|有想法|想了解)的?(?:私|丝|诗|伽|加|家|嘉|佳|si|dd|滴|扣|戳|找我|联系)"
                r"(?![a-z一-鿿]{2})", "recruiting call"),
    ("amount", rf"{_N}+(?:元|块|万|千|百)", "amount of money"),
    ("price", rf"{_N}{{2,}}(?:元|块|r|p|米)?(?:一次|一晚|一夜|一个钟|包夜|快餐|全套|过夜)", "price per session"),
    ("price", rf"(?:一次|一晚|一夜|包夜|快餐|全套|过夜|价格|价位){_N}{{2,}}", "price per session"),
    ("transfer", rf"(?:转|借|打|汇|充)(?:我|给我)?(?:{_N}{{3,}}|{_N}+(?:元|块|万|千))", "transfer amount"),
    # 转我520: the number asked for is an amount of money, with or without 元.
    ("amount", rf"(?:转|借|打|汇)(?:我|给我){_N}{{3,}}", "amount asked for"),
    # (The ask before it, when there is one, inside the shape: a cue and a shape may share
    # text only when the shape holds the cue whole.)
    ("amount", rf"(?:发个?|给我)?红包{_N}{{2,}}", "amount of a red packet"),
    ("promise", rf"(?:收益|回报|利润|盈利|翻)(?:率)?(?:达到?|高达|有)?{_N}+(?:倍|%|个点|成)", "stated returns"),
    ("promise", r"(?:百分之|\d+)(?:百|\d*)%?(?:收益|回报|稳赚)", "stated returns"),
    # Deposit bonuses: 充100送100, 存100送38, 首充100送, 100送100, 满600返288 (宋 for 送).
    ("bonus_shape", rf"(?:首充|首存|首冲|存款?|入款)(?:{_N}+|百|千)(?:元|块)?(?:就|即)?[送宋松颂赠返反]", "deposit bonus"),
    ("bonus_shape", rf"(?<![0-9充冲值]){_BIG}(?:元|块)?[送宋赠]{_BIG}(?![0-9])", "N for N bonus"),
    # 100+100 (the plus is noise, gone from doc.text; _plus_between checks the received text).
    ("bonus_shape", r"(?<![0-9])([1-9]0{1,3})\1(?![0-9])", "N plus N bonus"),
    ("lure_g", rf"(?:充值?|冲)(?:{_N}+|百|千)(?:元|块)?(?:就|即)?[送宋松颂赠返反]", "top-up bonus"),
    ("lure_g", rf"满{_N}+(?:元|块)?[送宋返反]{_N}+", "deposit bonus"),
    # A stake per point (1毛一分, 一块的底, 5毛-2块): card games played for money.
    # (猫 芬 筷 stand for 毛 分 块.)
    ("stake", r"(?:[0-9一二两三四五六七八九十]+|半)(?:毛|猫|块|筷|元|角)钱?(?:[一1][分份芬]|的底|底[0-9一二两三四五六七八九十]+倍|"
              r"[0-9一二两三四五](?:块|筷|元))", "stake per point"),
    ("stake", r"(?<![0-9])[0-9一二两三四五六七八九十]{1,2}分[0-9一二两三四五六七八九十]{1,2}(?:毛|块|元|米)", "stake per point"),
    # Several card games listed together (麻将 跑得快 斗地主 …): what a gambling room offers.
    ("menu", rf"(?:{_CARD_GAMES})(?:[^\n]{{0,3}}(?:{_CARD_GAMES})){{2,}}", "list of card games"),
)
_CN_DIGIT = {c: i for i, c in enumerate("零一二三四五六七八九")}
_CN_DIGIT.update({"两": 2, "几": 1})


def rate_amount(amt: str) -> int:
    """Rough value of an amount as written in a pay claim (3000, 三四百, 5w, 3-4位数)."""
    if "位数" in amt:
        m = re.search(r"\d", amt)
        return 10 ** int(m.group()) if m else 1000
    mult = 1
    for suf, k in (("w", 10000), ("万", 10000), ("k", 1000), ("千", 1000), ("百", 100)):
        if suf in amt:
            mult = k
            break
    m = re.search(r"\d+", amt)
    if m:
        head = m.group()
        # 3000到5000 lost its dash with the noise; 30005000 reads as its first half.
        n = int(head[: max(1, len(head) // 2)]) if len(head) >= 7 and mult == 1 else int(head)
    else:
        ds = [_CN_DIGIT[c] for c in amt if c in _CN_DIGIT]
        n = ds[0] if ds else 1
        if "十" in amt and mult == 1:
            mult = 10
    return n * mult


# Smallest amount a pay claim must state to count: below it, it is ordinary pay (家教一小时200).
RATE_MIN = 300
# Shapes are only tried on texts without cue words when an amount sits next to a period
# (一小时700, 500一天, 3-4位数): one cheap search.
_SHAPE_PRE = re.compile(
    r"(?:小时|天|日|月|单|晚|钟|周|趟|条|篇)[^\n]{0,6}[0-9百千万wk]"
    r"|[0-9百千万wk][^\n]{0,3}(?:一|每|半)个?(?:小时|天|单|晚|条|篇)|位数"
)

# Rules: (pattern, rule id, severity, groups — one cue from each group set is needed).
RULES: tuple[tuple[str, str, str, tuple[frozenset[str], ...]], ...] = (
    ("investment", "scam.investment.platform_promise", "high",
     (frozenset({"invest", "platform", "stock"}), frozenset({"promise"}))),
    ("investment", "scam.investment.hot_lure", "high",
     (frozenset({"invest_hot"}), frozenset({"recruit", "contact", "come", "promise", "gain"}))),
    ("investment", "scam.investment.trusted_platform", "medium",
     (frozenset({"platform"}), frozenset({"gain", "promise"}), frozenset({"trust"}))),
    ("investment", "scam.investment.insider", "high",
     (frozenset({"insider"}), frozenset({"gain", "promise", "stock", "deposit"}))),
    ("investment", "scam.investment.teacher", "high",
     (frozenset({"teacher"}), frozenset({"invest", "stock", "platform"}),
      frozenset({"gain", "deposit", "recruit", "rate"}))),
    ("investment", "scam.investment.recruit_gain", "high",
     (frozenset({"invest", "platform"}), frozenset({"gain"}), frozenset({"recruit", "contact", "rate"}))),
    ("investment", "scam.investment.deposit", "high",
     (frozenset({"deposit"}), frozenset({"invest", "platform"}), frozenset({"promise", "gain", "teacher", "rate"}))),
    ("investment", "scam.investment.deposit_promise", "high",
     (frozenset({"deposit"}), frozenset({"promise"}))),
    # 这个平台充值一万提现三万: a platform's deposits and withdrawals told to a date.
    ("investment", "scam.investment.withdraw_story", "medium",
     (frozenset({"platform"}), frozenset({"deposit"}), frozenset({"unlock"}))),
    ("money_request", "scam.money_request.urgent_transfer", "high",
     (frozenset({"transfer"}), frozenset({"urgency"}))),
    ("money_request", "scam.money_request.relationship_transfer", "medium",
     (frozenset({"transfer"}), frozenset({"relation"}), frozenset({"money", "amount"}))),
    ("money_request", "scam.money_request.ask_amount", "medium",
     (frozenset({"ask"}), frozenset({"amount"}))),
    ("money_request", "scam.money_request.repay_promise", "medium",
     (frozenset({"transfer"}), frozenset({"repay"}), frozenset({"money", "amount"}))),
    ("money_request", "scam.money_request.relationship_fee", "high",
     (frozenset({"relation"}), frozenset({"fee"}))),
    ("money_request", "scam.money_request.advance_fee", "high",
     (frozenset({"fee"}), frozenset({"unlock"}))),
    ("money_request", "scam.money_request.loan_offer", "medium",
     (frozenset({"loan"}), frozenset({"easy_loan", "recruit", "contact"}))),
    ("escort", "scam.escort.service", "high",
     (frozenset({"sex_strong"}), frozenset({"price", "venue_sex", "recruit", "contact"}))),
    ("escort", "scam.escort.venue", "high",
     (frozenset({"venue_sex"}), frozenset({"girl"}), frozenset({"service", "price", "contact"}))),
    ("escort", "scam.escort.price", "high",
     (frozenset({"girl"}), frozenset({"price"}))),
    ("part_time_job", "scam.part_time_job.task_pay", "high",
     (frozenset({"task"}), frozenset({"rate", "rate_low", "pay"}))),
    ("part_time_job", "scam.part_time_job.click_farm", "medium",
     (frozenset({"task"}), frozenset({"social_app"}))),
    ("part_time_job", "scam.part_time_job.easy_money", "high",
     (frozenset({"recruit"}), frozenset({"rate"}))),
    ("part_time_job", "scam.part_time_job.job_rate", "high",
     (frozenset({"job"}), frozenset({"rate"}))),
    ("part_time_job", "scam.part_time_job.come_rate", "high",
     (frozenset({"come", "no_fee"}), frozenset({"rate"}))),
    ("part_time_job", "scam.part_time_job.free_lure", "medium",
     (frozenset({"no_fee"}), frozenset({"gain", "job", "task", "promise"}))),
    ("part_time_job", "scam.part_time_job.recruit_gain", "medium",
     (frozenset({"recruit"}), frozenset({"gain", "promise"}))),
    ("part_time_job", "scam.part_time_job.recruit_pay", "medium",
     (frozenset({"recruit"}), frozenset({"pay"}), frozenset({"contact", "job", "task"}))),
    ("part_time_job", "scam.part_time_job.click_farm_pay", "medium",
     (frozenset({"task_weak"}), frozenset({"social_app"}),
      frozenset({"rate", "rate_low", "pay", "come", "recruit"}))),
    ("part_time_job", "scam.part_time_job.task", "medium",
     (frozenset({"task"}), frozenset({"contact", "recruit", "job"}))),
    ("part_time_job", "scam.part_time_job.promise", "medium",
     (frozenset({"job"}), frozenset({"promise"}))),
    ("phishing", "scam.phishing.prize", "high",
     (frozenset({"prize"}), frozenset({"link", "contact"}))),
    ("phishing", "scam.phishing.account", "high",
     (frozenset({"alert"}), frozenset({"link", "contact"}), frozenset({"official"}))),
    ("gambling", "scam.gambling.game_lure", "high",
     (frozenset({"gamble"}),
      frozenset({"bonus", "bonus_shape", "lure_g", "win", "gdeposit", "tip", "contact", "recruit", "come",
                 "gplatform", "stake", "trust"}))),
    ("gambling", "scam.gambling.bet_lure", "high",
     (frozenset({"gamble_talk"}),
      frozenset({"bonus", "bonus_shape", "lure_g", "win", "gdeposit", "tip", "stake", "trust"}))),
    ("gambling", "scam.gambling.bonus", "high",
     (frozenset({"lottery", "cards", "sport", "macau"}), frozenset({"bonus", "bonus_shape"}))),
    ("gambling", "scam.gambling.lottery_win", "medium",
     (frozenset({"lottery"}), frozenset({"win"}))),
    ("gambling", "scam.gambling.tips", "medium",
     (frozenset({"lottery", "sport"}), frozenset({"tip"}),
      frozenset({"contact", "recruit", "come", "win", "gdeposit"}))),
    ("gambling", "scam.gambling.stakes", "medium",
     (frozenset({"cards"}), frozenset({"stake"}),
      frozenset({"contact", "recruit", "come", "bonus", "bonus_shape"}))),
    ("gambling", "scam.gambling.game_menu", "medium",
     (frozenset({"cards"}), frozenset({"menu"}), frozenset({"trust", "lure_g", "bonus", "stake", "win"}),
      frozenset({"contact", "recruit", "come"}))),
    ("gambling", "scam.gambling.platform", "medium",
     (frozenset({"macau"}), frozenset({"gplatform"}),
      frozenset({"contact", "recruit", "come", "win", "gdeposit", "tip", "bonus", "bonus_shape", "lure_g"}))),
    ("gambling", "scam.gambling.bonus_contact", "medium",
     (frozenset({"bonus"}), frozenset({"contact", "recruit", "link", "gplatform", "lure_g", "trust"}))),
    ("gambling", "scam.gambling.win_call", "medium",
     (frozenset({"win_bet"}), frozenset({"contact", "recruit", "come"}))),
    ("gambling", "scam.gambling.new_user_bonus", "medium",
     (frozenset({"newbie"}), frozenset({"bonus_shape"}), frozenset({"contact", "recruit"}))),
    ("romance_lure", "scam.romance_lure.venue", "medium",
     (frozenset({"lure_venue"}), frozenset({"meet"}), frozenset({"spend"}))),
    ("romance_lure", "scam.romance_lure.matchmaker", "medium",
     (frozenset({"matchmaker"}), frozenset({"member_fee"}), frozenset({"mm_promise"}))),
)

# The patterns these rules report.
SCAM_PATTERNS = frozenset(p for p, _, _, _ in RULES)

# Texts that warn about scams are not scams (but 骗子勿扰 / 骗子绕道 is a scammer's line).
_WARNING_RE = re.compile(
    r"谨防|警惕|防骗|反诈|防诈|小心上当|上当受骗|都是骗子|就是骗子|是骗子|骗局|诈骗|别信|不要相信|"
    r"千万不要|千万别|切勿|举报|不要(?:给|向|把|轻信|转账|汇款|借钱|投资|点击|添加)|"
    r"提醒.{0,12}(?:骗|诈|不要|别)|"
    # Warnings about gambling: 远离赌博, 网赌害人, 十赌九输, 赌博违法.
    r"(?:远离|拒绝|禁止|严禁|打击|抵制|戒掉?)(?:网络|网上|线上)?(?:赌博|网赌|黄赌毒|博彩|赌)|戒赌|十赌九输|久赌必输|"
    r"(?:赌博|网赌|博彩|赌球)[^，。！？!?\n]{0,8}(?:害人|违法|犯罪|坑人|骗局|倾家荡产|家破人亡|不归路|毁)"
)
_NOT_WARNING_RE = re.compile(r"骗子(?:勿扰|绕道|滚|免进|别来|走开)|非诚勿扰")


@dataclass(frozen=True, slots=True)
class Cue:
    """One cue found in ``doc.text`` coordinates."""

    group: str
    start: int
    end: int
    word: str
    homophone: bool = False
    # Found by a shape (a regex over a phrase such as 日兼职3～8k), not a cue word.
    shape: bool = False


@dataclass(frozen=True, slots=True)
class RuleMatch:
    pattern: str
    rule: str
    severity: str
    cues: tuple[Cue, ...]


def _collapse(s: str) -> str:
    return REPEAT_RE.sub(r"\1", s)


class _Tables:
    """The cue automaton over ``doc.canon``, built once. Every cue is matched in canonical
    (homophone) form; a match counts when ``doc.text`` holds the cue literally, or, for the
    disguisable cues in ``SOUND_OK``, when it holds a homophone that is not a real word."""

    def __init__(self, cues: Mapping[str, Iterable[str]]) -> None:
        norm = default_normalizer()
        table: dict[str, list[tuple[str, str, bool]]] = {}
        for group, words in cues.items():
            for w in words:
                lit = _collapse(NOISE_RE.sub("", norm.fold(w)))
                if len(lit) < 2:
                    raise ValueError(f"scam cue {w!r} is a single character; cues need two or more")
                sound_ok = w in SOUND_OK and len(HAN_RE.findall(lit)) >= 2
                table.setdefault(lit.translate(norm.homophone_table), []).append((group, lit, sound_ok))
        self.patterns = list(table)
        self.entries = [tuple(table[p]) for p in self.patterns]
        # Every group a match of each pattern may make a cue of.
        self.groups = [frozenset(g for g, _, _ in e) for e in self.entries]
        self.matcher = build_matcher(self.patterns)
        self.shapes = tuple((g, re.compile(rx), label) for g, rx, label in SHAPES)
        self.shapes_by_group: dict[frozenset[str], tuple] = {}

    def shapes_of(self, groups: frozenset[str]) -> tuple:
        """The shapes of a set of groups, in SHAPES order (few distinct sets ever occur)."""
        shapes = self.shapes_by_group.get(groups)
        if shapes is None:
            shapes = self.shapes_by_group[groups] = tuple(x for x in self.shapes if x[0] in groups)
        return shapes


_TABLES: _Tables | None = None


def _tables() -> _Tables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _Tables(CUES)
    return _TABLES


# Phrases that offer contact without an id (the id may follow in another message).
_CONTACT_CUE_RE = re.compile(
    r"加我|加微|加v|加q|加扣|联系我|联系方式|联系电话|电话|热线|来电|致电|详询|咨询|私聊|私我|私信|"
    r"微信|vx|wx|qq|扣扣|➕|\+v|\+q"
)


# Gambling cues said in the negative are not offers: 不玩彩票, 从不打牌, 不可能必中.
_NEGATABLE = frozenset({"gamble", "gamble_talk", "lottery", "cards", "win", "bonus"})
_NEGATED_RE = re.compile(
    r"(?:不|没|别|莫|勿|戒|远离|拒绝|禁止|严禁|反对|讨厌|不要|不会|不可能|哪有|哪来)(?:再|去|玩|碰|沾|买|参与|搞|赌|打|了|过|能)?$"
)


# Gambling words with another meaning in place: 18k彩金 (coloured gold) jewellery.
_NOT_GAMBLING_RE = re.compile(r"[0-9k]?彩金(?:项链|戒指|手链|手镯|耳|首饰|吊坠|饰品|镶)|k彩金")


def _is_real_word(seg: str) -> bool:
    """Whether a homophone match is itself a common word (拳套 is not 全套)."""
    return word_freq(seg) >= 3


def _may_cue(seg: str, entries: tuple) -> bool:
    """Whether a cue-automaton match can make a cue in ``find_cues``: the cue written as it is,
    or a disguisable cue's homophone that is no word of its own."""
    for _, w, _ in entries:
        if w == seg:
            return True
    return any(sound_ok for _, _, sound_ok in entries) and not _is_real_word(seg)


def _ascii_bounded(doc: "NormalizedText", s: int, e: int) -> bool:
    """An ASCII cue (app, dy, usdt) must not be part of a longer ASCII word in the received text."""
    os_, oe = doc.span(s, e)
    f = doc.folded
    if os_ > 0 and f[os_ - 1].isascii() and f[os_ - 1].isalnum():
        return False
    if oe < len(f) and f[oe].isascii() and f[oe].isalnum():
        return False
    return True


def find_cues(doc: "NormalizedText", contact_found: bool | None = None, pooled: bool = True,
              matches: list | None = None) -> list[Cue]:
    """Every cue in the text (``doc.text`` offsets).

    ``pooled=False`` is for a message judged alone: with no cue word in it, the shapes are
    tried in the order the shape-only rules need them and the search stops as soon as none
    of those rules can fire (most texts that mention a day and a number). Cues meant to be
    pooled with other messages of a conversation need every shape (the default).
    """
    t = _tables()
    text = doc.text
    out: list[Cue] = []
    for s, e, pid in t.matcher.find(doc.canon) if matches is None else matches:
        seg = text[s:e]
        entries = t.entries[pid]
        plain = {g for g, w, _ in entries if w == seg}
        if plain and seg.isascii() and not _ascii_bounded(doc, s, e):
            continue
        real = None
        for group, w, sound_ok in entries:
            if w == seg:
                out.append(Cue(group, s, e, w))
            elif sound_ok and group not in plain:
                if real is None:
                    real = _is_real_word(seg)
                if not real:
                    plain.add(group)
                    out.append(Cue(group, s, e, w, True))
    if out and _NEGATABLE.intersection(c.group for c in out):
        out = [c for c in out if c.group not in _NEGATABLE or not (
            _NEGATED_RE.search(text, max(0, c.start - 4), c.start) or _NOT_GAMBLING_RE.match(text, max(0, c.start - 1)))]
    if out:
        extras = _needed_extras(frozenset(c.group for c in out))
        if not extras:
            return out
    elif _SHAPE_PRE.search(text) is None:
        return out
    elif not pooled:
        return _shape_only_cues(t, text)
    else:
        extras = _shape_only_groups()
    for group, rx, label in t.shapes_of(extras | _RATE if "rate_low" in extras else extras):
        for m in rx.finditer(text):
            g = group
            if g == "rate" and rate_amount(m.group("amt")) < RATE_MIN:
                g = "rate_low"
            elif label == "N plus N bonus" and not _plus_between(doc, m.start(), m.end()):
                continue
            out.append(Cue(g, m.start(), m.end(), m.group(), shape=True))
    if not out or "contact" not in extras:
        return out
    if not pooled and not _contact_completes(frozenset(c.group for c in out)):
        return out  # alone, this message has too little for contact details to matter
    if contact_found is None:
        contact_found = bool(find_contacts(doc.folded)) or bool(_CONTACT_CUE_RE.search(text))
    if contact_found:
        out.append(Cue("contact", -1, -1, "contact details"))
    return out


_RATE = frozenset({"rate"})
_CONTACT_CACHE: dict[frozenset[str], bool] = {}


def _contact_completes(have: frozenset[str]) -> bool:
    """Whether contact details would complete a rule, given the groups found so far (words and
    shapes): when not, the contact finder need not run (most texts naming 麻将 or 平台)."""
    r = _CONTACT_CACHE.get(have)
    if r is None:
        with_contact = have | {"contact"}
        r = any(
            any("contact" in n for n in needs) and all(not with_contact.isdisjoint(n) for n in needs)
            for _, _, _, needs in RULES
        )
        if len(_CONTACT_CACHE) > 4096:
            _CONTACT_CACHE.clear()
        _CONTACT_CACHE[have] = r
    return r


def _plus_between(doc: "NormalizedText", s: int, e: int) -> bool:
    """Whether the received text writes a plus between the two halves of 100100 (100+100)."""
    os_, oe = doc.span(s, e)
    return re.search(r"[+＋➕]", doc.folded[os_:oe]) is not None


# Groups that come from shapes or from contact details rather than from cue words.
_SHAPE_GROUPS = frozenset({g for g, _, _ in SHAPES} | {"contact", "rate_low"})


_EXTRAS_CACHE: dict[frozenset[str], frozenset[str]] = {}
_SHAPE_ONLY: frozenset[str] | None = None


def _shapes_of(t: "_Tables", text: str, groups: frozenset[str]) -> list[Cue]:
    out: list[Cue] = []
    for group, rx, label in t.shapes_of(groups):
        for m in rx.finditer(text):
            g = group
            if g == "rate" and rate_amount(m.group("amt")) < RATE_MIN:
                g = "rate_low"
            out.append(Cue(g, m.start(), m.end(), m.group(), shape=True))
    return out


def _shape_only_cues(t: "_Tables", text: str) -> list[Cue]:
    """Cues for a text without cue words, for the rules made of shapes alone: a pay claim
    (rate) with a recruiting call or a call to come, or a recruiting call with stated returns."""
    if _RECRUIT_OR_COME_RE.search(text) is None or _RATE_OR_PROMISE_RE.search(text) is None:
        # Each shape-only rule needs a recruiting call or a call to come (the rarer half,
        # looked for first), and a pay claim or stated returns.
        return []
    out = _shapes_of(t, text, frozenset({"rate"}))
    if any(c.group == "rate" for c in out):
        return out + _shapes_of(t, text, frozenset({"recruit", "come"}))
    promise = _shapes_of(t, text, frozenset({"promise"}))
    if not promise:
        return []
    recruit = _shapes_of(t, text, frozenset({"recruit"}))
    return promise + recruit if recruit else []


# Any pay-claim or stated-returns shape, in one search (the named groups dropped). The
# lookahead names every character those shapes can start with (a period, a number, 月入…,
# 收益…, 百分之…): the engine then passes other positions at once, 3x faster over a chunk.
_RATE_OR_PROMISE_ALTERNATION = "|".join(
    f"(?:{rx.replace('(?P<amt>', '(?:')})" for g, rx, _ in SHAPES if g in ("rate", "promise"))
_RATE_OR_PROMISE_FIRST = r"\d一每半个天日小钟晚月周年单趟篇条夜二三四五六七八九十两几百千万wk收回利盈翻"
_RATE_OR_PROMISE_RE = re.compile(f"(?=[{_RATE_OR_PROMISE_FIRST}])(?:{_RATE_OR_PROMISE_ALTERNATION})")
# The other half of every shape-only rule: a recruiting call or a call to come, behind a
# lookahead of the characters those shapes start with (tested against the bare alternation).
_RECRUIT_OR_COME_ALTERNATION = "|".join(f"(?:{rx})" for g, rx, _ in SHAPES if g in ("recruit", "come"))
_RECRUIT_OR_COME_FIRST = "来做带私加佳伽丝滴有感兴想要需"
_RECRUIT_OR_COME_RE = re.compile(f"(?=[{_RECRUIT_OR_COME_FIRST}])(?:{_RECRUIT_OR_COME_ALTERNATION})")
# The same over texts joined by newlines: ``^`` and ``$`` then hold at each text's ends (no
# text holds a newline: it is noise). Tested to find the texts the search of each finds.
_RECRUIT_OR_COME_LINES_RE = re.compile(_RECRUIT_OR_COME_RE.pattern, re.MULTILINE)


def _shape_only_groups() -> frozenset[str]:
    """With no cue word in the text, only rules made of shapes alone can fire: the shapes
    they use are the only ones worth running."""
    global _SHAPE_ONLY
    if _SHAPE_ONLY is None:
        groups: set[str] = set()
        for _, _, _, needs in RULES:
            if all(n & _SHAPE_GROUPS for n in needs):
                for n in needs:
                    groups |= n & _SHAPE_GROUPS
        _SHAPE_ONLY = frozenset(groups)
    return _SHAPE_ONLY


def _needed_extras(word_groups: frozenset[str]) -> frozenset[str]:
    """The shape and contact groups worth looking for: those that could complete a rule that
    the word groups already half satisfy (empty: no rule can fire, stop here)."""
    r = _EXTRAS_CACHE.get(word_groups)
    if r is None:
        need: set[str] = set()
        have = word_groups | _SHAPE_GROUPS
        for _, _, _, needs in RULES:
            if all(n & have for n in needs) and any(n & word_groups for n in needs):
                # Every extra of the rule, even for groups words seem to cover: two words may
                # overlap (上门 inside 上门服务) and then cannot both count.
                need.add("_possible")
                for n in needs:
                    need |= n & _SHAPE_GROUPS
        r = frozenset(need)
        if len(_EXTRAS_CACHE) > 4096:
            _EXTRAS_CACHE.clear()
        _EXTRAS_CACHE[word_groups] = r
    return r


def is_warning(doc: "NormalizedText") -> bool:
    """Whether the text warns about scams rather than running one (骗子勿扰 is a scammer's)."""
    text = doc.text
    m = _WARNING_RE.search(text)
    if not m:
        return False
    return not _NOT_WARNING_RE.search(text) or bool(re.search(r"谨防|警惕|防骗|反诈|都是骗子|骗局", text))


# Cues of one rule must sit within this many characters of ``doc.text`` of each other: in a long
# text, 获得 in one paragraph and 网站 in another are not a phishing message.
WINDOW = 40


def _pick(groups: Mapping[str, list[Cue]], needs: tuple[frozenset[str], ...], anchor: Cue | None) -> list[Cue] | None:
    used: list[Cue] = []
    used_groups: set[str] = set()
    for k, need in enumerate(needs):
        best = None
        # Cues in the text first; contact details and earlier messages only when none fits.
        order = sorted(need, key=lambda g: (not any(c.start >= 0 for c in groups.get(g, ())), g))
        for g in order:
            if g in used_groups:
                continue
            for c in groups.get(g, ()):
                if k == 0 and anchor is not None and c is not anchor:
                    continue
                if c.start >= 0:
                    # A cue may not stand for two groups at once (学生妹 is girl or sex;
                    # 解冻费 holds 解冻): the cues of one rule do not overlap.
                    # A shape may hold a cue word (日兼职3～8k holds 兼职): those two may share text.
                    if any(c.start < u.end and u.start < c.end and not _nested_shape(c, u) for u in used if u.start >= 0):
                        continue
                    if anchor is not None and anchor.start >= 0 and abs(c.start - anchor.start) > WINDOW:
                        continue
                best = c
                break
            if best is not None:
                used_groups.add(g)
                break
        if best is None:
            return None
        used.append(best)
    return used


def _nested_shape(a: Cue, b: Cue) -> bool:
    """Whether one of two overlapping cues is a shape holding the other, a cue word."""
    if a.shape == b.shape:
        return False
    outer, inner = (a, b) if a.shape else (b, a)
    return outer.start <= inner.start and inner.end <= outer.end


_RULES_CACHE: dict[frozenset[str], tuple] = {}


def _rules_for(have: frozenset[str]) -> tuple:
    """The rules (in order) whose every group set meets the groups present."""
    r = _RULES_CACHE.get(have)
    if r is None:
        r = tuple(x for x in RULES if all(not have.isdisjoint(n) for n in x[3]))
        if len(_RULES_CACHE) > 4096:
            _RULES_CACHE.clear()
        _RULES_CACHE[have] = r
    return r


def evaluate(groups: Mapping[str, list[Cue]]) -> list[RuleMatch]:
    """The rules the pooled cue groups satisfy; one match per pattern (the first rule listed).

    Cues with ``start < 0`` (contact details, cues of earlier messages) satisfy a group from
    anywhere; real cues must lie within ``WINDOW`` characters of the rule's first cue.
    """
    out: list[RuleMatch] = []
    seen: set[str] = set()
    for pattern, rule, severity, needs in _rules_for(frozenset(g for g, cs in groups.items() if cs)):
        if pattern in seen:
            continue
        anchors = [c for g in sorted(needs[0]) for c in groups.get(g, ())]
        for anchor in anchors[:16]:
            used = _pick(groups, needs, anchor)
            if used is not None:
                seen.add(pattern)
                out.append(RuleMatch(pattern, rule, severity, tuple(used)))
                break
    return out


def group_cues(cues: Iterable[Cue]) -> dict[str, list[Cue]]:
    groups: dict[str, list[Cue]] = {}
    for c in cues:
        groups.setdefault(c.group, []).append(c)
    return groups


def _nearby(groups: Mapping[str, list[Cue]], m: RuleMatch) -> list[Cue]:
    """The rule's cues plus the other cues of its groups near them (兼职妹妹上门服务 whole)."""
    used = [c for c in m.cues if c.start >= 0]
    if not used:
        return used
    lo = min(c.start for c in used) - WINDOW // 2
    hi = max(c.end for c in used) + WINDOW // 2
    out = list(used)
    for g in {c.group for c in used}:
        out.extend(c for c in groups.get(g, ()) if c.start >= lo and c.end <= hi)
    return out


def describe(m: RuleMatch) -> str:
    parts = []
    for c in m.cues:
        if c.start < 0:
            parts.append(f"{c.group} ({c.word})")
        else:
            parts.append(f"{c.group} {c.word!r}" + (" (homophone)" if c.homophone else ""))
    return f"{m.pattern}: " + " + ".join(parts)


def to_hit(doc: "NormalizedText", m: RuleMatch, cues: Iterable[Cue] | None = None,
           context: tuple[str, ...] = (), detail: str | None = None) -> Hit | None:
    """A hit spanning the cues (in ``doc.text`` offsets) mapped back to the received text."""
    spans = [c for c in (cues if cues is not None else m.cues) if c.start >= 0]
    if not spans:
        return None
    s = min(c.start for c in spans)
    e = max(c.end for c in spans)
    os_, oe = doc.span(s, e)
    via = set(x for x in via_for(doc, os_, oe) if x != "noise")
    if any(c.homophone for c in spans):
        via.add("homophone")
    # Collapsed repeats are not reported: cue words are listed collapsed (妹妹 and 试试 are
    # ordinary), so a run in the text says nothing about disguise.
    return Hit(
        start=os_, end=oe, text=doc.original[os_:oe], category=PATTERN_CATEGORY[m.pattern],
        rule=m.rule, severity=m.severity, pattern=m.pattern,
        via=tuple(v for v in VIA_ORDER if v in via), detail=detail or describe(m), context=context,
    )


class ScamDetector:
    """Investment, money requests, escort ads, 刷单 jobs, phishing and 婚托/酒托 lures."""

    name = "scam"

    @staticmethod
    def batch_patterns() -> list[str]:
        """The cue patterns, matched over ``canon``: the engine's chunk automaton holds them."""
        return _tables().patterns

    @staticmethod
    def batch_triggers(views, matches: list | None = None) -> dict[int, list]:
        """The texts of a joined chunk for which ``find_cues(pooled=False)`` can find anything
        (a cue word in ``canon`` or a shape's prerequisite in ``text``), each with its cue-word
        matches in its own offsets. ``matches``: the cue automaton's matches over
        ``views.canon``, when the caller's scan found them already."""
        at = views.text_index
        t = _tables()
        text = views.text
        entries = t.entries
        if matches is None:
            matches = t.matcher.find(views.canon)
        # Only matches that can make a cue (find_cues' first test): most are homophones of a
        # cue that are words of their own (是我, 爱你), and a text with no other cue is left
        # to the shape test below.
        got = views.split_matches(
            [(s, e, pid) for s, e, pid in matches if _may_cue(text[s:e], entries[pid])])
        # Without cue words only the shape-only rules can fire (``_shape_only_cues``): each
        # needs a pay claim or stated returns, and a recruiting call or a call to come. The
        # rarer half (recruiting / come) is looked for first, over the chunk with each text
        # on a line of its own (the come shapes anchor at the text's ends: ``^``/``$`` of a
        # line); the other then in each text found.
        shaped: set[int] = set()
        pieces = views.pieces
        for m in _RECRUIT_OR_COME_LINES_RE.finditer(views.text.replace(BATCH_SEP, "\n")):
            i = at(m.start())
            if i not in shaped and _RATE_OR_PROMISE_RE.search(pieces[i]) is not None:
                shaped.add(i)
        # A text whose cue words (all the groups their matches may make) cannot half satisfy
        # any rule finds nothing: ``find_cues`` stops at no extras. Unless every cue falls
        # away there, and the shape-only rules get their turn: kept when they might fire.
        groups = t.groups
        for i in [i for i, ms in got.items() if i not in shaped]:
            ms = got[i]
            word_groups = groups[ms[0][2]] if len(ms) == 1 else frozenset().union(*(groups[pid] for _, _, pid in ms))
            if not _needed_extras(word_groups):
                del got[i]
        for i in shaped:
            got.setdefault(i, [])
        return got

    def find_matched(self, doc: "NormalizedText", ctx: "CheckContext", matches: list) -> list[Hit]:
        """``find`` with the cue automaton's matches over ``doc.canon`` already made (the
        engine's one scan, ``batch_patterns``)."""
        return self._hits(doc, find_cues(doc, pooled=False, matches=matches))

    def find_batched(self, doc: "NormalizedText", ctx: "CheckContext", matches: list) -> list[Hit]:
        """``find`` with the cue-word matches ``batch_triggers`` found."""
        return self._hits(doc, find_cues(doc, pooled=False, matches=matches))

    def __init__(self) -> None:
        _tables()

    def find(self, doc: "NormalizedText", ctx: "CheckContext") -> list[Hit]:
        return self._hits(doc, find_cues(doc, pooled=False))

    @staticmethod
    def _hits(doc: "NormalizedText", cues: list[Cue]) -> list[Hit]:
        if len(cues) < 2 or is_warning(doc):
            return []
        hits = []
        groups = group_cues(cues)
        for m in evaluate(groups):
            h = to_hit(doc, m, _nearby(groups, m))
            if h is not None:
                hits.append(h)
        return hits


# -- across the messages of a conversation ----------------------------------------------------

def _timestamp(value: object) -> float:
    """The message time in Unix seconds; missing or unreadable means now."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            v = float(value)
            if math.isfinite(v):
                return v
        except ValueError:
            pass
    return time.time()


# How many earlier messages of the same sender an id may be split over.
SPLIT_MESSAGES = 4


class ConversationDetector:
    """Contact ids split over, and scam scripts built up over, one sender's recent messages.

    Reads the window of ``ctx.conversation_id`` from ``ctx.conversation``, keeps only the
    sender's own messages (another sender can never complete an id or a script), finds what the
    message completes, then appends the message to the window. A hit covers the part of *this*
    message that completed the finding; ``context`` names the earlier messages that contributed.
    Without a store or a conversation id it does nothing.
    """

    name = "conversation"
    # Without a conversation (no store or no id) it finds nothing: the engine need not call it.
    needs_conversation = True

    @staticmethod
    def batch_triggers(views) -> dict[int, None]:
        return {}  # texts checked together carry no conversation

    def find_batched(self, doc: "NormalizedText", ctx: "CheckContext", _: None) -> list[Hit]:
        return self.find(doc, ctx)

    def find(self, doc: "NormalizedText", ctx: "CheckContext") -> list[Hit]:
        store = ctx.conversation
        if store is None or ctx.conversation_id is None:
            return []

        now = _timestamp(ctx.timestamp)
        window = store.window(ctx.conversation_id, now)
        mine = [m for m in window if m.user_id == ctx.user_id]
        hits: list[Hit] = []
        cues: list[Cue] = []
        warning = False
        if doc.text:
            cues = find_cues(doc)
            warning = bool(cues) and is_warning(doc)
        if mine:
            hits.extend(self._split_contacts(doc, mine[-SPLIT_MESSAGES:]))
            if cues and not warning:
                hits.extend(self._built_up_scams(doc, cues, mine))
        groups = () if warning else tuple(sorted({c.group for c in cues}))
        store.append(
            ctx.conversation_id,
            Message(ctx.message_id, ctx.user_id, now, doc.folded[-TAIL_CHARS:], groups),
        )
        return hits

    @staticmethod
    def _split_contacts(doc: "NormalizedText", earlier: list) -> list[Hit]:
        parts = [m.tail for m in earlier] + [doc.folded]
        joined = " ".join(parts)
        offset = len(joined) - len(doc.folded)
        out: list[Hit] = []
        before: list | None = None
        for x in find_contacts(joined):
            if not (x.start < offset < x.end):
                continue  # wholly in this message (found alone) or wholly before it
            if before is None:
                before = find_contacts(joined[: offset - 1])
            if any(p.start == x.start and p.rule == x.rule for p in before):
                continue  # complete before this message: this one only runs on after it
            ids: list[str] = []
            pos = 0
            for m in earlier:
                seg_s, seg_e = pos, pos + len(m.tail)
                if x.start < seg_e and m.message_id is not None:
                    if x.start < seg_e and x.end > seg_s:
                        ids.append(m.message_id)
                pos = seg_e + 1
            s = max(0, x.start - offset)
            e = x.end - offset
            while s < e and doc.folded[s].isspace():
                s += 1
            if s >= e:
                continue
            local = type(x)(s, e, x.rule, x.detail, x.severity, x.homophone)
            detail = f"{x.detail}, split over {len(ids) + 1} messages of one sender"
            out.append(contact_hit(doc, local, tuple(ids), detail))
        return out

    @staticmethod
    def _built_up_scams(doc: "NormalizedText", cues: list[Cue], mine: list) -> list[Hit]:
        # What the message alone shows (the scam detector reports that), by pattern: the
        # earlier messages add a hit only where they make the pattern more severe (你能先转给我
        # 五千吗 is a request alone; after 我妈住院了 an urgent one).
        alone = {m.pattern: SEVERITY_RANK[m.severity] for m in evaluate(group_cues(cues))}
        pooled = group_cues(cues)
        have_now = set(pooled)
        sources: dict[str, list[str]] = {}
        for m in mine:
            for g in m.cues:
                if g not in have_now:
                    pooled.setdefault(g, [Cue(g, -1, -1, "earlier message")])
                if m.message_id is not None:
                    sources.setdefault(g, []).append(m.message_id)
        out: list[Hit] = []
        for rm in evaluate(pooled):
            if rm.pattern in alone and SEVERITY_RANK[rm.severity] <= alone[rm.pattern]:
                continue  # the message alone already shows it; the scam detector reports it
            own = [c for c in rm.cues if c.start >= 0]
            earlier_groups = [c.group for c in rm.cues if c.start < 0]
            if not own or not earlier_groups:
                continue
            ids: list[str] = []
            for g in earlier_groups:
                for mid in sources.get(g, ()):
                    if mid not in ids:
                        ids.append(mid)
            detail = describe(rm) + ", built up over earlier messages of one sender"
            near = _nearby(group_cues(cues), RuleMatch(rm.pattern, rm.rule, rm.severity, tuple(own)))
            h = to_hit(doc, rm, near, tuple(ids), detail)
            if h is not None:
                out.append(h)
        return out
