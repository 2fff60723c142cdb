"""The words of e-mail notifications, in Vietnamese and English.

Only public fields fill them (the outbox payload), so an e-mail says nothing a stranger could
not read on the map. Every status has a label in each language (tests check it against
``workflow.states.Status``).
"""

from typing import Any

from workflow.states import Status

LANGS = ("vi", "en")

STATUS_LABELS: dict[str, dict[Status, str]] = {
    "vi": {Status.RECEIVED: "đã tiếp nhận", Status.ASSIGNED: "đã giao xử lý",
           Status.IN_PROGRESS: "đang xử lý", Status.RESOLVED: "đã xử lý xong",
           Status.REJECTED: "bị từ chối", Status.DUPLICATE: "trùng với phản ánh khác",
           Status.REOPENED: "được mở lại", Status.CLOSED: "đã đóng"},
    "en": {Status.RECEIVED: "received", Status.ASSIGNED: "assigned",
           Status.IN_PROGRESS: "in progress", Status.RESOLVED: "resolved",
           Status.REJECTED: "rejected", Status.DUPLICATE: "a duplicate",
           Status.REOPENED: "reopened", Status.CLOSED: "closed"},
}

WORDS = {
    "vi": {"subject": "[phananh] Phản ánh {id}: {status}",
           "body": "Phản ánh {id} ({category}, phường {ward}) {status}.\n\nXem: {link}\n",
           "why": {"reporter": "Bạn nhận thư này vì đã gửi phản ánh này.",
                   "jurisdiction": "Bạn nhận thư này vì phản ánh thuộc địa bàn bạn phụ trách.",
                   "alert": "Bạn nhận thư này vì đã đăng ký theo dõi khu vực này."},
           "due_subject": "[phananh] Phản ánh {id} sắp quá hạn",
           "due_body": "Phản ánh {id} ({category}, phường {ward}) {status}, hạn xử lý "
                       "{due}.\n\nXem: {link}\n",
           "unsubscribe": "Hủy theo dõi: {url}",
           "id": "Mã thông báo: {delivery}"},
    "en": {"subject": "[phananh] Complaint {id}: {status}",
           "body": "Complaint {id} ({category}, ward {ward}) is {status}.\n\nSee: {link}\n",
           "why": {"reporter": "You get this e-mail because you submitted this complaint.",
                   "jurisdiction": "You get this e-mail because the complaint is in your "
                                   "jurisdiction.",
                   "alert": "You get this e-mail because you watch this area."},
           "due_subject": "[phananh] Complaint {id} is due soon",
           "due_body": "Complaint {id} ({category}, ward {ward}) is {status}; it is due "
                       "{due}.\n\nSee: {link}\n",
           "unsubscribe": "Unsubscribe: {url}",
           "id": "Notification id: {delivery}"},
}


def render(lang: str, delivery_id: str, payload: dict[str, Any], link: str,
           unsubscribe: str | None) -> tuple[str, str]:
    """(subject, plain-text body) of one notification."""
    lang = lang if lang in WORDS else LANGS[0]
    words = WORDS[lang]
    complaint = payload["complaint"]
    status = STATUS_LABELS[lang][Status(complaint["status"])]
    fields = {"id": complaint["id"], "category": complaint["category"],
              "ward": complaint.get("ward") or "?", "status": status, "link": link,
              "due": complaint.get("dueAt") or "?"}
    due = payload["event"] == "DUE_SOON"
    subject = words["due_subject" if due else "subject"].format(**fields)
    lines = [words["due_body" if due else "body"].format(**fields), words["why"][payload["reason"]]]
    if unsubscribe:
        lines.append(words["unsubscribe"].format(url=unsubscribe))
    lines.append(words["id"].format(delivery=delivery_id))
    return subject, "\n".join(lines) + "\n"
