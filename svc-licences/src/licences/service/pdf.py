"""The printable copy of a licence: its fields, the identifier and a QR code of the identifier.

reportlab's built-in CID font STSong-Light renders Chinese without shipping a font file, and its
own QR widget draws the code, so no other library is needed."""
from __future__ import annotations

import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from licences.schemas import LicenceView

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATUS_ZH = {"active": "有效", "suspended": "暂停", "revoked": "已撤销", "expired": "已过期"}


def _day(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y年%m月%d日")


def render(licence: LicenceView) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    page.setTitle(f"{licence.licence_type} {licence.licence_number}")
    width, height = A4
    page.setFont(FONT, 22)
    page.drawCentredString(width / 2, height - 30 * mm, licence.licence_type)
    page.setFont(FONT, 11)
    page.drawCentredString(width / 2, height - 38 * mm, f"编号：{licence.licence_number}")
    rows = [("持证主体", licence.holder_name), ("主体代码", licence.holder_code),
            ("发证机关", f"{licence.issuer_name}（{licence.issuer_code}）"), ("发证日期", _day(licence.issued_at)),
            ("有效期", f"{_day(licence.valid_from)} 至 {_day(licence.valid_until)}"),
            ("版本", str(licence.version)), ("状态", STATUS_ZH.get(licence.status, licence.status))]
    rows += [(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
             for key, value in licence.data.items()]
    y = height - 55 * mm
    for label, value in rows:
        page.drawString(25 * mm, y, f"{label}：")
        page.drawString(55 * mm, y, str(value)[:60])
        y -= 8 * mm
        if y < 70 * mm:
            break
    qr = QrCodeWidget(licence.identifier, barLevel="M")
    x0, y0, x1, y1 = qr.getBounds()
    size = 40 * mm
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, page, width - 25 * mm - size, 20 * mm)
    page.setFont(FONT, 9)
    page.drawString(25 * mm, 25 * mm, f"证照标识：{licence.identifier}")
    page.drawString(25 * mm, 20 * mm, "扫描二维码或通过 POST /v1/verifications 核验 / verify online or with the published keys")
    page.showPage()
    page.save()
    return out.getvalue()
