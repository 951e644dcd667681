export { type BatonPluginOptions, batonFastifyPlugin, batonFastifyPlugin as default, batonPreClose } from './plugin.js';
