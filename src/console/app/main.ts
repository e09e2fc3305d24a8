import './styles.css';
import { mount } from './app.ts';

mount(document.getElementById('app')!);
