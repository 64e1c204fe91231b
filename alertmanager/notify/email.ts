import nodemailer, { type Transporter } from 'nodemailer';
import type { EmailTarget } from '../config/routing.js';
import { DeliveryError } from './errors.js';
import type { WebhookPayload } from './payload.js';
import { renderEmail } from './render-email.js';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
}

/**
 * Sends notifications by SMTP with nodemailer: implicit TLS (`tls`, usually port 465), STARTTLS required
 * (`starttls`, usually 587) or plain (`none`, only for local relays). One pooled-less transport per target:
 * a notification is rare and a fresh connection survives an SMTP server restart without stale sockets.
 */
export class EmailSender {
  private readonly transports = new Map<EmailTarget, Transporter>();

  private transportFor(t: EmailTarget): Transporter {
    let tr = this.transports.get(t);
    if (!tr) {
      tr = nodemailer.createTransport({
        host: t.host, port: t.port,
        secure: t.tls === 'tls',
        requireTLS: t.tls === 'starttls',
        ignoreTLS: t.tls === 'none',
        auth: t.username ? { user: t.username, pass: t.password ?? '' } : undefined,
        tls: { rejectUnauthorized: !t.insecureSkipVerify },
        connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000,
      });
      this.transports.set(t, tr);
    }
    return tr;
  }

  async send(t: EmailTarget, payload: WebhookPayload, notificationId: string): Promise<void> {
    const mail = renderEmail(payload);
    try {
      await this.transportFor(t).sendMail({
        from: t.from, to: t.to, subject: mail.subject, text: mail.text, html: mail.html,
        // A stable Message-ID lets a mailbox or a list manager drop the rare duplicate after a crash.
        messageId: `<${notificationId}@swarmwatch>`,
        headers: { ...t.headers, 'X-Swarmwatch-Notification-Id': notificationId, 'X-Swarmwatch-Group-Key': payload.groupKey },
      });
    } catch (err) {
      const e = err as SmtpError;
      // 5xx replies are permanent refusals (bad recipient, auth rejected); everything else may pass later.
      const permanent = e.responseCode !== undefined && e.responseCode >= 500 && e.responseCode < 600;
      throw new DeliveryError(`SMTP ${t.host}:${t.port}: ${e.code ? `${e.code} ` : ''}${e.message.split('\n')[0]}`, !permanent);
    }
  }

  close(): void {
    for (const tr of this.transports.values()) tr.close();
    this.transports.clear();
  }
}
