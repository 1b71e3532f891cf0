"""Name pools for generated people and companies: several scripts, accents, CJK, no emoji."""

# Non-ASCII letters (dotless i, full-width colon) are the point of these pools.
# ruff: noqa: RUF001

from __future__ import annotations

# (first name, last name, ascii first, ascii last)
PEOPLE: tuple[tuple[str, str, str, str], ...] = (
    ("Anna", "Kask", "anna", "kask"),
    ("Jürgen", "Schäfer", "juergen", "schaefer"),
    ("Zoë", "Martín", "zoe", "martin"),
    ("José", "Muñoz", "jose", "munoz"),
    ("Łukasz", "Wójcik", "lukasz", "wojcik"),
    ("Émilie", "Lefèvre", "emilie", "lefevre"),
    ("Søren", "Østergaard", "soren", "ostergaard"),
    ("Ngozi", "Okafor", "ngozi", "okafor"),
    ("太郎", "山田", "taro", "yamada"),
    ("美咲", "佐藤", "misaki", "sato"),
    ("伟", "王", "wei", "wang"),
    ("Minh", "Nguyễn", "minh", "nguyen"),
    ("Olga", "Иванова", "olga", "ivanova"),
    ("Sarah", "Johnson", "sarah", "johnson"),
    ("Michael", "Smith", "michael", "smith"),
    ("Priya", "Sharma", "priya", "sharma"),
    ("Mateus", "Conceição", "mateus", "conceicao"),
    ("Aoife", "Ní Bhriain", "aoife", "nibhriain"),
    ("Mehmet", "Yılmaz", "mehmet", "yilmaz"),
    ("Kaisa", "Mäkelä", "kaisa", "makela"),
    ("Liam", "O'Brien", "liam", "obrien"),
    ("Chen", "Li", "chen", "li"),
    ("Fatima", "Al-Sayed", "fatima", "alsayed"),
    ("Tom", "van der Berg", "tom", "vanderberg"),
)
FIRST_ONLY = ("Cher", "Prince", "Björk")
COMPANY_STEMS = (
    "Nordlys",
    "Baltic Freight",
    "Müller & Söhne",
    "Acme",
    "Soluções Verdes",
    "株式会社サクラ",
    "Blue Harbor",
    "Kiwi Analytics",
    "Zenith Logistics",
    "Café Olé",
    "Polar Bytes",
    "Ibérica Foods",
    "Tallinn Tech",
    "Quantum Garden",
    "北京星辰",
    "Red Maple",
)
COMPANY_SUFFIXES = ("OÜ", "GmbH", "Ltd", "Inc.", "S.A.", "AS", "", "Group")
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.co.jp", "web.de", "proton.me")
DEAL_WORDS = ("Annual licence", "Pilot", "Expansion", "Renewal", "Onboarding", "Integration")
INDUSTRIES = (1, 2, 5, 7, 12, 19, 23)
LOST_REASONS = ("Price too high", "Went with competitor", "No budget", "No response", "Timing")
NOTE_SNIPPETS = (
    "<p>Call recap: <b>interested</b> in the analytics add-on.</p>",
    "<p>Sent the proposal &amp; pricing sheet.</p><ul><li>Follow up next week</li></ul>",
    "<p>Décision attendue fin du mois. Contact prefers <i>email</i>.</p>",
    "<p>会議メモ：来月に再度連絡。</p>",
    "<div>Customer asked about GDPR / data residency.</div>",
    "<p>Left a voicemail.</p>",
)
ACTIVITY_SUBJECTS = {
    "call": ("Intro call", "Follow-up call", "Check-in call"),
    "meeting": ("Discovery meeting", "On-site visit", "QBR"),
    "task": ("Send proposal", "Prepare contract", "Update CRM notes"),
    "deadline": ("Contract deadline", "Quote expires"),
    "email": ("Send recap email", "Email pricing"),
    "product_demo": ("Product demo", "Technical deep dive"),
    "lunch": ("Lunch",),
}
