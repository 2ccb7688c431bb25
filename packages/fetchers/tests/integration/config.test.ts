import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, readConfig, sourceFromEnv } from '../../src/config.js';
import { PolygonSource } from '../../src/polygon.js';
import { SyntheticSource } from '../../src/synthetic.js';

describe('readConfig', () => {
  it('defaults to the synthetic market on ./lake when nothing is set', () => {
    expect(readConfig({})).toMatchObject({ lake: './lake', source: 'synthetic', synthetic: { seed: 42, tickers: 300 }, polygon: { baseUrl: 'https://api.polygon.io', rpm: 5 } });
  });

  it('picks polygon when a key is configured', () => {
    expect(readConfig({ POLYGON_API_KEY: 'k' }).source).toBe('polygon');
    expect(readConfig({ POLYGON_API_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:polygon-AbCdEf' }).source).toBe('polygon');
    expect(readConfig({ POLYGON_API_KEY: 'k', FIBBARS_SOURCE: 'synthetic' }).source).toBe('synthetic');
  });

  it.each([
    [{ POLYGON_RPM: '0' }, 'POLYGON_RPM'],
    [{ POLYGON_RPM: 'five' }, 'POLYGON_RPM'],
    [{ SYNTHETIC_SEED: '-1' }, 'SYNTHETIC_SEED'],
    [{ SYNTHETIC_TICKERS: '1e9' }, 'SYNTHETIC_TICKERS'],
    [{ POLYGON_BASE_URL: 'ftp://example.com' }, 'POLYGON_BASE_URL'],
    [{ POLYGON_BASE_URL: 'not a url' }, 'POLYGON_BASE_URL'],
    [{ FIBBARS_LAKE: 'gs://bucket/lake' }, 'FIBBARS_LAKE'],
    [{ FIBBARS_SOURCE: 'yahoo' }, 'FIBBARS_SOURCE'],
    [{ FIBBARS_SOURCE: 'polygon' }, 'POLYGON_API_KEY'],
    [{ POLYGON_API_KEY_SECRET_ARN: 'my-secret' }, 'POLYGON_API_KEY_SECRET_ARN'],
  ])('rejects %j with a ConfigError naming %s', (env, variable) => {
    expect(() => readConfig(env)).toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringContaining(variable) }));
  });
});

describe('sourceFromEnv', () => {
  it('builds the synthetic market from its variables', () => {
    const source = sourceFromEnv({ SYNTHETIC_SEED: '9', SYNTHETIC_TICKERS: '12' });
    expect(source).toBeInstanceOf(SyntheticSource);
    expect(source).toMatchObject({ seed: 9, universe: 12 });
  });

  it('builds the vendor source when a key is set', () => {
    const source = sourceFromEnv({ POLYGON_API_KEY: 'k', POLYGON_BASE_URL: 'http://127.0.0.1:9' });
    expect(source).toBeInstanceOf(PolygonSource);
    expect((source as PolygonSource).baseUrl).toBe('http://127.0.0.1:9');
  });
});

describe('loadConfig with the key in Secrets Manager (local endpoint, real SDK client)', () => {
  const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:fibbars/polygon-AbCdEf';
  let server: Server;
  let secret: string;
  let targets: string[];
  let client: SecretsManagerClient;

  beforeEach(async () => {
    targets = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        targets.push(String(req.headers['x-amz-target']));
        const { SecretId } = JSON.parse(body) as { SecretId: string };
        if (SecretId !== ARN) {
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'Secrets Manager can not find the specified secret.' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ ARN, Name: 'fibbars/polygon', SecretString: secret, VersionId: 'v1', CreatedDate: 1710000000 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new SecretsManagerClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
  });
  afterEach(async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads a plain-text key', async () => {
    secret = 'pk_from_secret';
    const config = await loadConfig({ POLYGON_API_KEY_SECRET_ARN: ARN }, { secrets: client });
    expect(config.polygon.apiKey).toBe('pk_from_secret');
    expect(targets).toEqual(['secretsmanager.GetSecretValue']);
  });

  it('reads a JSON secret with an apiKey field', async () => {
    secret = JSON.stringify({ apiKey: 'pk_json' });
    expect((await loadConfig({ POLYGON_API_KEY_SECRET_ARN: ARN }, { secrets: client })).polygon.apiKey).toBe('pk_json');
  });

  it('does not call Secrets Manager when the key is set directly', async () => {
    await loadConfig({ POLYGON_API_KEY: 'direct', POLYGON_API_KEY_SECRET_ARN: ARN }, { secrets: client });
    expect(targets).toEqual([]);
  });

  it('fails with a ConfigError naming the variable when the secret cannot be read or holds no key', async () => {
    const other = ARN.replace('AbCdEf', 'Zzzzzz');
    await expect(loadConfig({ POLYGON_API_KEY_SECRET_ARN: other }, { secrets: client })).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringMatching(/POLYGON_API_KEY_SECRET_ARN.*ResourceNotFoundException/),
    });
    secret = JSON.stringify({ user: 'x' });
    await expect(loadConfig({ POLYGON_API_KEY_SECRET_ARN: ARN }, { secrets: client })).rejects.toMatchObject({ name: 'ConfigError' });
  });
});
