"""What the switch says to customers in writing (SMS, web chat), per language.

English, Khmer, Thai and Persian; a missing language falls back to English. Texts take
``str.format`` fields. Numbers are written with the language's own digits where the
language usually does (Khmer, Thai, Persian), since that is what customers read.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "csat_survey": {
        "en": "Thank you for your call. How satisfied are you? "
        "Reply with one number from {low} (not at all) to {high} (very satisfied).",
        "km": "សូមអរគុណសម្រាប់ការហៅទូរស័ព្ទរបស់អ្នក។ តើអ្នកពេញចិត្តកម្រិតណា? "
        "សូមឆ្លើយតបជាលេខមួយពី {low} (មិនពេញចិត្តទាល់តែសោះ) ដល់ {high} (ពេញចិត្តខ្លាំងណាស់)។",
        "th": "ขอบคุณที่โทรหาเรา คุณพึงพอใจเพียงใด "
        "ตอบกลับด้วยตัวเลขหนึ่งตัวตั้งแต่ {low} (ไม่พอใจเลย) ถึง {high} (พอใจมาก)",
        "fa": "از تماس شما سپاسگزاریم. چقدر راضی هستید؟ "
        "لطفاً با یک عدد از {low} (اصلاً) تا {high} (بسیار راضی) پاسخ دهید.",
    },
    "callback_confirm": {
        "en": "We will call you back at {phone}. You are number {position} in the queue.",
        "km": "យើងនឹងហៅទៅអ្នកវិញតាមលេខ {phone}។ អ្នកជាលេខ {position} ក្នុងជួរ។",
        "th": "เราจะโทรกลับหาคุณที่หมายเลข {phone} คุณอยู่ลำดับที่ {position} ในคิว",
        "fa": "با شما به شماره {phone} تماس خواهیم گرفت. شما نفر {position} در صف هستید.",
    },
    "callback_failed": {
        "en": "We tried to call you back at {phone} but could not reach you. "
        "Please call us again or reply CALL.",
        "km": "យើងបានព្យាយាមហៅទៅអ្នកវិញតាមលេខ {phone} ប៉ុន្តែមិនអាចទាក់ទងបាន។ "
        "សូមហៅមកយើងម្តងទៀត ឬឆ្លើយតប CALL។",
        "th": "เราพยายามโทรกลับหาคุณที่หมายเลข {phone} แต่ติดต่อไม่ได้ กรุณาโทรหาเราอีกครั้งหรือตอบกลับว่า CALL",
        "fa": "تلاش کردیم با شماره {phone} با شما تماس بگیریم اما موفق نشدیم. "
        "لطفاً دوباره تماس بگیرید یا CALL را ارسال کنید.",
    },
    "conversation_closed": {
        "en": "Thank you for your message. We are closed now and will answer when we open. "
        "Reply CALL to be called back.",
        "km": "សូមអរគុណសម្រាប់សាររបស់អ្នក។ ពេលនេះយើងបិទ ហើយនឹងឆ្លើយតបនៅពេលយើងបើក។ "
        "ឆ្លើយតប CALL ដើម្បីឱ្យយើងហៅទៅអ្នកវិញ។",
        "th": "ขอบคุณสำหรับข้อความของคุณ ขณะนี้เราปิดทำการ และจะตอบกลับเมื่อเปิดทำการ "
        "ตอบกลับว่า CALL เพื่อให้เราโทรกลับ",
        "fa": "از پیام شما سپاسگزاریم. اکنون تعطیل هستیم و پس از بازگشایی پاسخ می‌دهیم. "
        "برای تماس مجدد، CALL را ارسال کنید.",
    },
    "conversation_no_agents": {
        "en": "Thank you for your message. Nobody can answer right now; "
        "reply CALL and we will call you back.",
        "km": "សូមអរគុណសម្រាប់សាររបស់អ្នក។ ពេលនេះគ្មាននរណាអាចឆ្លើយបានទេ។ ឆ្លើយតប CALL ហើយយើងនឹងហៅទៅអ្នកវិញ។",
        "th": "ขอบคุณสำหรับข้อความของคุณ ขณะนี้ไม่มีผู้ใดตอบได้ ตอบกลับว่า CALL แล้วเราจะโทรกลับ",
        "fa": "از پیام شما سپاسگزاریم. اکنون کسی نمی‌تواند پاسخ دهد؛ "
        "CALL را ارسال کنید تا با شما تماس بگیریم.",
    },
    "conversation_max_wait": {
        "en": "Thank you for your patience. All our agents are busy; "
        "reply CALL and we will call you back.",
        "km": "សូមអរគុណចំពោះការអត់ធ្មត់របស់អ្នក។ ភ្នាក់ងាររបស់យើងទាំងអស់កំពុងរវល់។ ឆ្លើយតប CALL ហើយយើងនឹងហៅទៅអ្នកវិញ។",
        "th": "ขอบคุณที่รอ เจ้าหน้าที่ของเราไม่ว่างทั้งหมด ตอบกลับว่า CALL แล้วเราจะโทรกลับ",
        "fa": "از صبر شما سپاسگزاریم. همه کارشناسان ما مشغول هستند؛ "
        "CALL را ارسال کنید تا با شما تماس بگیریم.",
    },
    "widget_code": {
        "en": "Your code is {code}. It is valid for {minutes} minutes. "
        "Do not share it with anyone.",
        "km": "លេខកូដរបស់អ្នកគឺ {code}។ វាមានសុពលភាព {minutes} នាទី។ កុំចែករំលែកវាជាមួយនរណាម្នាក់។",
        "th": "รหัสของคุณคือ {code} ใช้ได้ {minutes} นาที อย่าบอกรหัสนี้กับผู้อื่น",
        "fa": "کد شما {code} است. این کد {minutes} دقیقه معتبر است. آن را به کسی ندهید.",
    },
    "chat_closed": {
        "en": "Thank you for your message. We are closed now. Leave your number and we "
        "will call you back or answer by SMS when we open.",
        "km": "សូមអរគុណសម្រាប់សាររបស់អ្នក។ ពេលនេះយើងបិទ។ សូមទុកលេខទូរស័ព្ទរបស់អ្នក "
        "ហើយយើងនឹងហៅទៅវិញ ឬឆ្លើយតបតាម SMS នៅពេលយើងបើក។",
        "th": "ขอบคุณสำหรับข้อความของคุณ ขณะนี้เราปิดทำการ ฝากหมายเลขโทรศัพท์ไว้ "
        "แล้วเราจะโทรกลับหรือตอบทาง SMS เมื่อเปิดทำการ",
        "fa": "از پیام شما سپاسگزاریم. اکنون تعطیل هستیم. شماره خود را بگذارید تا پس از "
        "بازگشایی با شما تماس بگیریم یا با پیامک پاسخ دهیم.",
    },
    "chat_no_agents": {
        "en": "Thank you for your message. Nobody can answer right now. Leave your number "
        "and we will call you back or answer by SMS.",
        "km": "សូមអរគុណសម្រាប់សាររបស់អ្នក។ ពេលនេះគ្មាននរណាអាចឆ្លើយបានទេ។ "
        "សូមទុកលេខទូរស័ព្ទរបស់អ្នក ហើយយើងនឹងហៅទៅវិញ ឬឆ្លើយតបតាម SMS។",
        "th": "ขอบคุณสำหรับข้อความของคุณ ขณะนี้ไม่มีผู้ใดตอบได้ ฝากหมายเลขโทรศัพท์ไว้ "
        "แล้วเราจะโทรกลับหรือตอบทาง SMS",
        "fa": "از پیام شما سپاسگزاریم. اکنون کسی نمی‌تواند پاسخ دهد. شماره خود را بگذارید "
        "تا با شما تماس بگیریم یا با پیامک پاسخ دهیم.",
    },
    "chat_max_wait": {
        "en": "Thank you for your patience. All our agents are busy. Leave your number and "
        "we will call you back or answer by SMS.",
        "km": "សូមអរគុណចំពោះការអត់ធ្មត់របស់អ្នក។ ភ្នាក់ងាររបស់យើងទាំងអស់កំពុងរវល់។ "
        "សូមទុកលេខទូរស័ព្ទរបស់អ្នក ហើយយើងនឹងហៅទៅវិញ ឬឆ្លើយតបតាម SMS។",
        "th": "ขอบคุณที่รอ เจ้าหน้าที่ของเราไม่ว่างทั้งหมด ฝากหมายเลขโทรศัพท์ไว้ แล้วเราจะโทรกลับหรือตอบทาง SMS",
        "fa": "از صبر شما سپاسگزاریم. همه کارشناسان ما مشغول هستند. شماره خود را بگذارید "
        "تا با شما تماس بگیریم یا با پیامک پاسخ دهیم.",
    },
}

_DIGITS = {
    "km": "០១២៣៤៥៦៧៨៩",
    "th": "๐๑๒๓๔๕๖๗๘๙",
    "fa": "۰۱۲۳۴۵۶۷۸۹",
}


def local_digits(text: str, language: str) -> str:
    digits = _DIGITS.get(language)
    if digits is None:
        return text
    return text.translate(str.maketrans("0123456789", digits))


def text(name: str, language: str, **fields: object) -> str:
    """The text ``name`` in ``language`` (English if missing), fields filled in."""
    catalogue = TEXTS[name]
    template = catalogue.get(language) or catalogue["en"]
    values = {
        k: local_digits(str(v), language) if isinstance(v, int) else v for k, v in fields.items()
    }
    return template.format(**values)
