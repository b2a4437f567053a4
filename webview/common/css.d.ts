// The webview build loads .css files as text (scripts/build.mjs: loader '.css': 'text'); the scripts inject
// them in <style> elements that carry the page's nonce.
declare module '*.css' {
  const text: string;
  export default text;
}
