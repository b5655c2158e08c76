import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { McpAuth } from '../mcp-hooks.js';

/**
 * OAuth without a browser, for tests and the conformance client: the authorization servers
 * they talk to grant at once and redirect with a code, so "the person authorizing" is one
 * request whose redirect is read, not followed. Only loopback addresses are visited.
 *
 * ```ts
 * const oauth = new HeadlessOAuth();
 * new Mvm({ config, mcpAuth: { web: oauth.auth() } });
 * ```
 */
export class HeadlessOAuth implements OAuthClientProvider {
  readonly clientMetadataUrl: string | undefined;
  /** Every access token handed out, to look for in the journal afterwards. */
  readonly issued: string[] = [];
  /** How many times a person was sent to authorize. */
  authorizations = 0;
  private info: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier = '';
  private pending: URL | undefined;

  constructor(options: { preregistered?: OAuthClientInformationMixed; metadataUrl?: string } = {}) {
    this.info = options.preregistered;
    this.clientMetadataUrl = options.metadataUrl;
  }

  /** The `mcpAuth` entry of a namespace that authorizes with this provider. */
  auth(maxAttempts?: number): McpAuth {
    const auth: McpAuth = { provider: this, authorizationCode: () => this.authorizationCode() };
    return maxAttempts === undefined ? auth : { ...auth, maxAttempts };
  }

  get redirectUrl(): string {
    return 'http://localhost:3000/callback';
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'mvm headless client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
  }

  clientInformation() {
    return this.info;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.info = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
    this.issued.push(tokens.access_token);
  }

  redirectToAuthorization(url: URL): void {
    this.pending = url;
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    return this.verifier;
  }

  async authorizationCode(): Promise<string> {
    const url = this.pending;
    this.pending = undefined;
    if (!url) throw new Error('no authorization was asked for');
    if (!['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
      throw new Error(`refusing to visit a non-loopback authorization server: ${url.host}`);
    }
    this.authorizations++;
    const response = await fetch(url, { redirect: 'manual' });
    await response.body?.cancel();
    const location = response.headers.get('location');
    const code = location ? new URL(location).searchParams.get('code') : null;
    if (!code) throw new Error(`authorization gave no code (status ${response.status})`);
    return code;
  }
}
