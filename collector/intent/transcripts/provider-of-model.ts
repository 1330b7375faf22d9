// The provider behind a model name, for transcripts that name only the model
// (Qwen Code talks to whatever OpenAI-compatible server it is given).
export function providerOfModel(model: string | undefined, fallback: string): string {
  const m = (model ?? '').toLowerCase();
  if (/^(gpt-|o\d|codex|chatgpt)/.test(m)) return 'openai';
  if (m.startsWith('claude')) return 'anthropic';
  if (m.startsWith('gemini')) return 'gcp.gemini';
  if (m.startsWith('qwen')) return 'dashscope';
  if (m.startsWith('deepseek')) return 'deepseek';
  return fallback;
}
