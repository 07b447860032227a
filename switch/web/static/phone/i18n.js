// Message catalogues of the phone page: en, km, th, fa. `{name}` is filled in by t().
// Persian is written right to left: the page sets <html dir="rtl"> for it, and the CSS
// uses logical properties only, so the layout mirrors by itself.

export const CATALOGUES = {
  en: {
    title: "Browser phone",
    signin: "Sign in",
    token: "API token",
    agent: "Agent",
    register: "Register",
    unregister: "Unregister",
    status_idle: "Not registered",
    status_registering: "Registering…",
    status_registered: "Registered",
    status_failed: "Registration failed: {cause}",
    status_credential: "Could not get a credential: {error}",
    call_title: "Call",
    number: "Number",
    dial: "Call",
    answer: "Answer",
    hangup: "Hang up",
    mute: "Mute",
    hold: "Hold",
    keypad: "Keypad",
    incoming: "Incoming call from {peer}",
    calling: "Calling {peer}…",
    ringing: "Ringing…",
    connected: "In call with {peer}",
    on_hold: "On hold with {peer}",
    ended: "Call ended",
    level: "Incoming audio",
    language: "Language",
  },
  km: {
    title: "ទូរស័ព្ទកម្មវិធីរុករក",
    signin: "ចូល",
    token: "សញ្ញាសម្ងាត់ API",
    agent: "ភ្នាក់ងារ",
    register: "ចុះឈ្មោះ",
    unregister: "ឈប់ចុះឈ្មោះ",
    status_idle: "មិនទាន់ចុះឈ្មោះ",
    status_registering: "កំពុងចុះឈ្មោះ…",
    status_registered: "បានចុះឈ្មោះ",
    status_failed: "ការចុះឈ្មោះបរាជ័យ៖ {cause}",
    status_credential: "មិនអាចទទួលបានអត្តសញ្ញាណ៖ {error}",
    call_title: "ការហៅ",
    number: "លេខ",
    dial: "ហៅ",
    answer: "ឆ្លើយ",
    hangup: "ដាក់ចុះ",
    mute: "បិទសំឡេង",
    hold: "រង់ចាំ",
    keypad: "ក្តារចុច",
    incoming: "ការហៅចូលពី {peer}",
    calling: "កំពុងហៅ {peer}…",
    ringing: "កំពុងរោទ៍…",
    connected: "កំពុងនិយាយជាមួយ {peer}",
    on_hold: "កំពុងរង់ចាំជាមួយ {peer}",
    ended: "ការហៅបានបញ្ចប់",
    level: "សំឡេងចូល",
    language: "ភាសា",
  },
  th: {
    title: "โทรศัพท์บนเบราว์เซอร์",
    signin: "เข้าสู่ระบบ",
    token: "โทเค็น API",
    agent: "เจ้าหน้าที่",
    register: "ลงทะเบียน",
    unregister: "ยกเลิกการลงทะเบียน",
    status_idle: "ยังไม่ได้ลงทะเบียน",
    status_registering: "กำลังลงทะเบียน…",
    status_registered: "ลงทะเบียนแล้ว",
    status_failed: "ลงทะเบียนไม่สำเร็จ: {cause}",
    status_credential: "ขอข้อมูลรับรองไม่สำเร็จ: {error}",
    call_title: "การโทร",
    number: "หมายเลข",
    dial: "โทร",
    answer: "รับสาย",
    hangup: "วางสาย",
    mute: "ปิดเสียง",
    hold: "พักสาย",
    keypad: "แป้นกด",
    incoming: "สายเรียกเข้าจาก {peer}",
    calling: "กำลังโทรหา {peer}…",
    ringing: "กำลังเรียก…",
    connected: "กำลังสนทนากับ {peer}",
    on_hold: "พักสายกับ {peer}",
    ended: "วางสายแล้ว",
    level: "เสียงขาเข้า",
    language: "ภาษา",
  },
  fa: {
    title: "تلفن مرورگر",
    signin: "ورود",
    token: "توکن API",
    agent: "کارشناس",
    register: "ثبت‌نام",
    unregister: "لغو ثبت‌نام",
    status_idle: "ثبت‌نام نشده",
    status_registering: "در حال ثبت‌نام…",
    status_registered: "ثبت‌نام شد",
    status_failed: "ثبت‌نام ناموفق بود: {cause}",
    status_credential: "دریافت اعتبارنامه ناموفق بود: {error}",
    call_title: "تماس",
    number: "شماره",
    dial: "تماس",
    answer: "پاسخ",
    hangup: "قطع تماس",
    mute: "بی‌صدا",
    hold: "انتظار",
    keypad: "صفحه‌کلید",
    incoming: "تماس ورودی از {peer}",
    calling: "در حال تماس با {peer}…",
    ringing: "در حال زنگ خوردن…",
    connected: "در تماس با {peer}",
    on_hold: "در انتظار با {peer}",
    ended: "تماس پایان یافت",
    level: "صدای ورودی",
    language: "زبان",
  },
};

export const RTL = new Set(["fa"]);
export const LANGUAGES = { en: "English", km: "ខ្មែរ", th: "ไทย", fa: "فارسی" };

export function pickLanguage(wanted, fallback = "en") {
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (base in CATALOGUES) return base;
  }
  return fallback;
}

export function translator(lang) {
  const catalogue = CATALOGUES[lang] ?? CATALOGUES.en;
  return (key, values = {}) => {
    const text = catalogue[key] ?? CATALOGUES.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  };
}
