"""What the sorting dictionary's replies say, per resident language (ja first; a language
missing a phrase gets Japanese). The 「ごみ」 reply's texts are in the residents' catalog
(segments/texts); kind names come from `[garbage.kinds.*] names`; dictionary entries from
the dictionary itself."""

from __future__ import annotations

from typing import Any

PHRASES: dict[str, dict[str, str]] = {
    "item_found": {
        "ja": "「{name}」は【{category}】です。",
        "easy-ja": "「{name}」は 【{category}】 です。",
        "en": "\"{name}\": {category}.",
        "zh": "「{name}」属于【{category}】。",
        "ko": "「{name}」은(는) 【{category}】입니다.",
        "vi": "\"{name}\": {category}.",
        "pt": "\"{name}\": {category}.",
    },
    "item_near": {
        "ja": "「{query}」はそのままでは見つかりませんでした。近いもの:",
        "easy-ja": "「{query}」は みつかりませんでした。にている もの:",
        "en": "\"{query}\" was not found as such. Closest items:",
        "zh": "没有找到「{query}」。相近的项目：",
        "ko": "「{query}」을(를) 그대로는 찾지 못했습니다. 비슷한 항목:",
        "vi": "Không tìm thấy \"{query}\". Các mục gần giống:",
        "pt": "\"{query}\" não foi encontrado. Itens parecidos:",
    },
    "item_missing": {
        "ja": "「{query}」は分別辞典に見つかりません。"
              "別の言い方で送るか、{contact}にお問い合わせください。",
        "easy-ja": "「{query}」は みつかりません。"
                   "ほかの ことばで おくるか、{contact}に きいて ください。",
        "en": "\"{query}\" is not in the sorting dictionary (見つかりません). Try another word, "
              "or ask {contact}.",
        "zh": "分类辞典中找不到「{query}」（見つかりません）。请换个说法，或咨询{contact}。",
        "ko": "분리배출 사전에서 「{query}」을(를) 찾을 수 없습니다(見つかりません). 다른 말로 "
              "보내시거나 {contact}에 문의해 주세요.",
        "vi": "Không tìm thấy \"{query}\" trong từ điển phân loại (見つかりません). Hãy thử từ "
              "khác hoặc hỏi {contact}.",
        "pt": "\"{query}\" não está no dicionário de separação (見つかりません). Tente outra "
              "palavra ou pergunte a {contact}.",
    },
}


def phrase(key: str, language: str | None, **values: Any) -> str:
    """The phrase in `language` (Japanese when it has none), filled in."""
    texts = PHRASES[key]
    return texts.get(language or "ja", texts["ja"]).format(**values)
