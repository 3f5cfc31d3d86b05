// Drives `smolvid serve` with the official OpenAI SDK (npm `openai`). Started by test_sdk.py, which
// runs the server and passes, in the JSON file SERVE_EXPECT_FILE, what the CLI's in-process path (`smolvid ask
// --json`) answered for the same inputs; the server must give the same text and token counts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';

const url = process.env.SERVE_URL;
const key = process.env.SERVE_KEY;
const expect = JSON.parse(fs.readFileSync(process.env.SERVE_EXPECT_FILE, 'utf8'));
const client = new OpenAI({ baseURL: url + '/v1', apiKey: key, maxRetries: 0, timeout: 120000 });

async function check(name, fn) {
  try {
    await fn();
    console.log('ok', name);
  } catch (e) {
    console.log('FAIL', name, e && e.stack ? e.stack : e);
    process.exitCode = 1;
  }
}

await check('models.list', async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.equal(models.length, 1);
  assert.equal(models[0].id, expect.model);
  assert.equal(models[0].object, 'model');
});

await check('plain completion with an image', async () => {
  const r = await client.chat.completions.create({
    model: expect.model,
    max_tokens: expect.max_tokens,
    messages: [{ role: 'user', content: [
      { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,' + expect.image_b64 } },
      { type: 'text', text: expect.question } ] }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, expect.image_answer.answer);
  assert.equal(r.usage.prompt_tokens, expect.image_answer.prompt_tokens);
  assert.equal(r.usage.completion_tokens, expect.image_answer.generated_tokens);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(r.choices[0].finish_reason, expect.image_answer.stop_reason === 'eos' ? 'stop' : 'length');
});

await check('streamed completion with a video', async () => {
  const stream = await client.chat.completions.create({
    model: expect.model,
    max_tokens: expect.max_tokens,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: [
      { type: 'video_url', video_url: { url: 'file://' + expect.video_path } },
      { type: 'text', text: expect.question } ] }],
  });
  let text = '', contentChunks = 0, finish = null, usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    if (!chunk.choices.length) continue;
    const c = chunk.choices[0];
    if (c.delta.content) { text += c.delta.content; contentChunks += 1; }
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, expect.video_answer.answer);
  assert.ok(contentChunks > 1, 'the answer arrived in ' + contentChunks + ' chunk(s), not token by token');
  assert.equal(finish, expect.video_answer.stop_reason === 'eos' ? 'stop' : 'length');
  assert.equal(usage.prompt_tokens, expect.video_answer.prompt_tokens);
  assert.equal(usage.completion_tokens, expect.video_answer.generated_tokens);
});

await check('a Frigate-shaped request: prompt then base64 JPEG snapshots', async () => {
  // As frigate/genai/openai.py sends it: one user message, the text part first, then each
  // snapshot as a data: URL with detail "low".
  const content = [{ type: 'text', text: expect.question }].concat(expect.snapshots_b64.map((b64) => ({
    type: 'image_url', image_url: { url: 'data:image/jpeg;base64,' + b64, detail: 'low' } })));
  const r = await client.chat.completions.create({ model: expect.model, messages: [{ role: 'user', content }], max_tokens: expect.max_tokens });
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.completion_tokens >= 1);
  // More pictures, longer prompt: each snapshot adds its image tokens.
  assert.ok(r.usage.prompt_tokens > expect.image_answer.prompt_tokens, `${r.usage.prompt_tokens} <= ${expect.image_answer.prompt_tokens}`);
});

await check('400: a bad field is a BadRequestError naming it', async () => {
  await assert.rejects(client.chat.completions.create({ model: expect.model, temperature: 7, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature' && /temperature/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: expect.model, messages: [{ role: 'user', content: [
      { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,' + Buffer.from('not an image at all').toString('base64') } }] }] }),
    (e) => e instanceof OpenAI.BadRequestError && /not an image/.test(e.message));
});

await check('401: a wrong key is an AuthenticationError', async () => {
  const wrong = new OpenAI({ baseURL: url + '/v1', apiKey: key + 'x', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

await check('404: an unknown model is a NotFoundError', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found');
});

await check('429 while the model is busy, and a dropped stream stops its generation', async () => {
  // The server runs with --queue 0: while one request generates, any other is refused at once.
  const before = await metric('smolvid_generated_tokens_total');
  const controller = new AbortController();
  const res = await fetch(url + '/v1/chat/completions', {
    method: 'POST', signal: controller.signal,
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
    body: JSON.stringify({ model: expect.model, stream: true, max_tokens: expect.long_max_tokens, messages: [{ role: 'user', content: 'Tell a long story.' }] }),
  });
  const reader = res.body.getReader();
  let seen = '';
  while (!seen.includes('"content":"') || seen.split('"content":"').length < 4) seen += new TextDecoder().decode((await reader.read()).value);
  await assert.rejects(client.chat.completions.create({ model: expect.model, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.headers['retry-after'] === '1');
  controller.abort();
  // The model goes idle long before it could have produced long_max_tokens tokens.
  for (let i = 0; i < 200 && (await (await fetch(url + '/health')).json()).busy; i++) await new Promise((r) => setTimeout(r, 50));
  const generated = (await metric('smolvid_generated_tokens_total')) - before;
  assert.ok(generated < expect.long_max_tokens, `generated ${generated} of ${expect.long_max_tokens} tokens after the client left`);
});

async function metric(name) {
  const text = await (await fetch(url + '/metrics', { headers: { Authorization: 'Bearer ' + key } })).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line.split(' ')[1]);
}
