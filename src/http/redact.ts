/**
 * Keeps secrets out of every report, log line and reproduction command: every
 * access token, password and registration token the run handles is registered
 * here, and every string that leaves the runner goes through apply().
 */
export class Redactor {
  private readonly secrets = new Map<string, string>();

  /** Registers a secret with the placeholder that replaces it. */
  add(secret: string, placeholder: string): void {
    if (secret !== '') this.secrets.set(secret, placeholder);
  }

  /** The placeholder of a registered secret, found by exact value (for header values, however short the secret). */
  placeholderFor(secret: string): string | undefined {
    return this.secrets.get(secret);
  }

  apply(text: string): string {
    let out = text;
    // Very short secrets would match ordinary text; they are caught by exact value where they travel (headers).
    for (const [secret, placeholder] of this.secrets) if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(placeholder);
    return out;
  }
}
