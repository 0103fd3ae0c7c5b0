/**
 * Keeps secrets out of every report, log line and reproduction command: every
 * access token, password and registration token the run handles is registered
 * here, and every string that leaves the runner goes through apply().
 */
export class Redactor {
  private readonly secrets = new Map<string, string>();

  /** Registers a secret with the placeholder that replaces it. */
  add(secret: string, placeholder: string): void {
    if (secret.length >= 4) this.secrets.set(secret, placeholder);
  }

  apply(text: string): string {
    let out = text;
    for (const [secret, placeholder] of this.secrets) if (out.includes(secret)) out = out.split(secret).join(placeholder);
    return out;
  }
}
